"""Which SMPP bind sends to which number: routes by the number's mobile network.

A province may hold binds to several operators' SMSCs (Viettel, VinaPhone,
MobiFone, ...). Each recipient goes to a bind serving its network, chosen from
the number plan (prefixes after 2018's change to 10 digits, and the old 11-digit
prefixes that still sit in legacy data); numbers of networks no bind names go
to the default bind; while the chosen bind is down or throttled, the next
available bind takes them (failover). Ported numbers keep their old prefix:
the operator's SMSC still delivers them (interconnect), so routing by prefix
stays correct, only not always on-net.

The outbox is shared by every bind: each link claims only the parts its bind
currently owns (`Routes.filter_for`), a prefix filter the outbox turns into
`msisdn LIKE '8486%' OR ...`. Pure: no I/O; who is available is asked of a
callable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from lookup.phones import LEGACY_PREFIXES

__all__ = [
    "NETWORKS",
    "OTHER",
    "RouteFilter",
    "Routes",
    "network_of",
]

# National prefixes (with the leading 0) of each network's 10-digit mobile numbers.
_CURRENT: dict[str, tuple[str, ...]] = {
    "viettel": ("086", "096", "097", "098", "032", "033", "034", "035", "036", "037", "038", "039"),
    "vinaphone": ("088", "091", "094", "081", "082", "083", "084", "085"),
    "mobifone": ("089", "090", "093", "070", "076", "077", "078", "079"),
    "vietnamobile": ("092", "052", "056", "058"),
    "gmobile": ("099", "059"),
    "itelecom": ("087",),  # Indochina Telecom (MVNO)
    "reddi": ("055",),  # Mobicast's Reddi, now Wintel (MVNO)
}
NETWORKS: tuple[str, ...] = tuple(_CURRENT)
OTHER = "other"  # any number no network prefix matches: landlines, foreign, short codes

_NETWORK_OF_PREFIX = {p: network for network, ps in _CURRENT.items() for p in ps}
# The stored form of a number is 84xxxxxxxxx (sms/address.py): prefixes in that form,
# the old 11-digit ones too (84162... can only be an old Viettel number).
_STORED: dict[str, tuple[str, ...]] = {
    network: tuple(
        ["84" + p[1:] for p in prefixes]
        + ["84" + old[1:] for old, new in LEGACY_PREFIXES.items() if new in prefixes]
    )
    for network, prefixes in _CURRENT.items()
}


def network_of(msisdn: str) -> str:
    """The network of a number in any usual spelling ('84912345678', '+84...',
    '0912...', old '0162...'), or OTHER."""
    digits = msisdn.strip().removeprefix("+")
    if not digits.isdigit():
        return OTHER
    if digits.startswith("84") and len(digits) in (11, 12):
        national = "0" + digits[2:]
    elif digits.startswith("0"):
        national = digits
    else:
        return OTHER
    if len(national) == 11:  # the old 11-digit numbers: the last 7 digits stay
        new = LEGACY_PREFIXES.get(national[:4])
        if new is None:
            return OTHER
        national = new + national[4:]
    if len(national) != 10:
        return OTHER
    return _NETWORK_OF_PREFIX.get(national[:3], OTHER)


@dataclass(frozen=True, slots=True)
class RouteFilter:
    """The stored numbers a link may claim: those starting with one of `include`
    (None = every number), minus those starting with one of `exclude`."""

    include: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()

    def matches(self, msisdn: str) -> bool:
        if self.include is not None and not msisdn.startswith(self.include):
            return False
        return not (self.exclude and msisdn.startswith(self.exclude))

    def sql(self, column: str) -> tuple[str, list[str]]:
        """A WHERE fragment (' AND ...', or '') and its parameters; portable SQL."""
        clause, params = "", []
        if self.include is not None:
            if not self.include:
                return " AND 1 = 0", []
            clause += " AND (" + " OR ".join(f"{column} LIKE ?" for _ in self.include) + ")"
            params += [p + "%" for p in self.include]
        if self.exclude:
            clause += " AND NOT (" + " OR ".join(f"{column} LIKE ?" for _ in self.exclude) + ")"
            params += [p + "%" for p in self.exclude]
        return clause, params


NOTHING = RouteFilter(include=())


@dataclass(frozen=True, slots=True)
class RouteBind:
    name: str
    networks: frozenset[str]
    default: bool = False


class Routes:
    """Who sends to whom, given the binds in their configured order.

    The preference for a network: the binds naming it (in order), then the default
    binds (marked `default`; without any, those naming no network, else the first
    bind), then every other bind (failover). The owner of a network is the first
    available bind in its preference; with none available, the first in it (nobody
    sends, the parts wait in the outbox).
    """

    def __init__(self, binds: Sequence[RouteBind]) -> None:
        if not binds:
            raise ValueError("no SMPP bind to route to")
        names = [b.name for b in binds]
        if len(set(names)) != len(names):
            raise ValueError(f"SMPP bind names repeat: {names}")
        for bind in binds:
            unknown = bind.networks - set(NETWORKS)
            if unknown:
                raise ValueError(f"bind {bind.name!r}: unknown networks {sorted(unknown)}")
        self.binds = tuple(binds)
        # Without one marked default: the binds naming no network (else the first bind).
        defaults = [b for b in binds if b.default] or [b for b in binds if not b.networks]
        defaults = defaults or [binds[0]]
        self._preference: dict[str, tuple[str, ...]] = {}
        for key in (*NETWORKS, OTHER):
            first = [b.name for b in binds if key in b.networks]
            then = [b.name for b in defaults if b.name not in first]
            rest = [b.name for b in binds if b.name not in first and b.name not in then]
            self._preference[key] = (*first, *then, *rest)

    def preference(self, key: str) -> tuple[str, ...]:
        return self._preference[key]

    def owners(self, available: Callable[[str], bool]) -> dict[str, str]:
        """Network (and OTHER) -> the bind that sends to it now."""
        owners = {}
        for key, preference in self._preference.items():
            owners[key] = next((n for n in preference if available(n)), preference[0])
        return owners

    def bind_for(self, msisdn: str, available: Callable[[str], bool] = lambda name: True) -> str:
        return self.owners(available)[network_of(msisdn)]

    def filter_for(self, name: str, available: Callable[[str], bool]) -> RouteFilter:
        """What the bind `name` may claim from the outbox now."""
        owners = self.owners(available)
        owned = {key for key, owner in owners.items() if owner == name}
        if OTHER in owned:
            if len(owned) == len(owners):
                return RouteFilter()  # everything
            return RouteFilter(exclude=_prefixes(k for k in owners if k not in owned))
        if not owned:
            return NOTHING
        return RouteFilter(include=_prefixes(owned))


def _prefixes(networks: Iterable[str]) -> tuple[str, ...]:
    return tuple(p for network in sorted(networks) for p in _STORED[network])
