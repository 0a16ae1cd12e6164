"""Who the client is behind a reverse proxy.

X-Forwarded-For is believed only when the direct peer is a trusted proxy
(settings.http.trusted_proxies); otherwise anyone could pick their own rate-limit
key by sending the header. Walking the header from the right, every trusted hop
is skipped; the first address that is not a trusted proxy is the client. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

Network = IPv4Network | IPv6Network
UNKNOWN = "-"


def _parse(text: str) -> IPv4Address | IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [2001:db8::1]:443
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # 203.0.113.7:51234
        text = text.split(":", 1)[0]
    try:
        return ip_address(text)
    except ValueError:
        return None


def _trusted(address: IPv4Address | IPv6Address, proxies: Sequence[Network]) -> bool:
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in proxies)


def client_address(
    peer: str | None, forwarded_for: Sequence[str], proxies: Sequence[Network]
) -> str:
    """The client's address: the peer's, or from X-Forwarded-For through trusted proxies.

    `forwarded_for`: every X-Forwarded-For header line, in order.
    """
    direct = _parse(peer or "")
    if direct is None:
        return peer or UNKNOWN
    if not _trusted(direct, proxies):
        return str(direct)
    hops = [hop for line in forwarded_for for hop in line.split(",") if hop.strip()]
    client = direct
    for hop in reversed(hops):
        address = _parse(hop)
        if address is None:
            break  # garbage from further out: the last good hop is all we know
        client = address
        if not _trusted(address, proxies):
            break
    return str(client)


def forwarded_tls(
    peer: str | None, forwarded_proto: str | None, proxies: Sequence[Network]
) -> bool:
    """True when a trusted proxy says the client's request came over TLS."""
    direct = _parse(peer or "")
    if direct is None or not _trusted(direct, proxies) or not forwarded_proto:
        return False
    return forwarded_proto.split(",")[0].strip().lower() == "https"
