"""Settings of the SMS side: the SMPP link, replies and reminders.

Every field can be set from the environment: TRACUU_SMPP_WINDOW=20,
TRACUU_SMS_ACCENTS=true, TRACUU_SMS_TEMPLATES='{"ready": "..."}'. The SMPP
password comes from TRACUU_SMPP_PASSWORD only (SecretStr: never printed).

Several SMSC binds: TRACUU_SMPP_BINDS='[{"name": "viettel", "host": "...",
"system_id": "...", "networks": ["viettel"], "tps": 50}, {"name": "vnpt", ...,
"default": true}]' and their passwords in TRACUU_SMPP_PASSWORDS='{"viettel": "..."}'.
"""

from __future__ import annotations

from datetime import time
from typing import Literal, Protocol

from pydantic import Field, SecretStr, field_validator, model_validator

from kernel.section import Section
from lookup.settings import LookupConfig
from sms.routes import NETWORKS


class BindSettings(Section):
    """One SMSC bind of several (TRACUU_SMPP_BINDS, JSON): no password here, it comes
    from TRACUU_SMPP_PASSWORDS='{"<name>": "..."}' (environment only). Unset fields
    take the [smpp] values."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    host: str
    port: int = Field(2775, ge=1, le=65535)
    system_id: str = ""
    system_type: str | None = None
    # Networks this bind sends to (sms/routes.py NETWORKS: viettel, vinaphone, mobifone,
    # vietnamobile, gmobile, itelecom, reddi); numbers of networks no bind names go to
    # the default binds (without any marked default: the binds naming no network, else
    # the first bind).
    networks: tuple[str, ...] = ()
    default: bool = False
    tps: float | None = Field(None, gt=0)
    window: int | None = Field(None, ge=1, le=1000)
    source_addr: str | None = None
    tls: bool | None = None

    @field_validator("networks")
    @classmethod
    def _known_networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(NETWORKS))
        if unknown:
            raise ValueError(f"unknown networks {unknown}; known: {', '.join(NETWORKS)}")
        return value


class SmppSettings(Section):
    # No host: the SMPP link does not start (demo mode starts a local test SMSC instead).
    host: str | None = None
    port: int = Field(2775, ge=1, le=65535)
    system_id: str = ""
    password: SecretStr = SecretStr("")
    system_type: str = ""
    source_addr: str = "8088"
    source_ton: int = Field(3, ge=0, le=6)  # 3 = network specific: a short code
    source_npi: int = Field(0, ge=0, le=18)
    dest_ton: int = Field(1, ge=0, le=6)  # 1 = international: we send 84xxxxxxxxx
    dest_npi: int = Field(1, ge=0, le=18)  # 1 = E.164
    tls: bool = False
    tls_verify: bool = True
    # Seconds of silence before we send enquire_link (SMPP 3.4 §4.11).
    enquire_link_s: float = Field(30.0, gt=0)
    # A request without its response after this long means the link is dead.
    response_timeout_s: float = Field(30.0, gt=0)
    connect_timeout_s: float = Field(10.0, gt=0)
    # Several gateway instances on one PostgreSQL: a part claimed for sending and not
    # settled (answered, or put back at a link drop) within this long belongs to an
    # instance that died, and a live one takes it over (sms/lease.py). Must exceed
    # response_timeout_s: a live link settles every part it sent within that.
    lease_s: float = Field(60.0, gt=0)
    # Outstanding submit_sm without submit_sm_resp (Kannel's default is 10).
    window: int = Field(10, ge=1, le=1000)
    # Message parts per second; every UDH part is one submit_sm. Never more than this in
    # any sliding second; an SMSC that throttles below it gets a lower rate (sms/pacing.py).
    tps: float = Field(20.0, gt=0)
    reconnect_min_s: float = Field(1.0, gt=0)
    reconnect_max_s: float = Field(60.0, gt=0)
    # After ESME_RMSGQFUL (the SMSC's queue is full) nothing is sent for this long (doubling,
    # max 30 s). ESME_RTHROTTLED lowers the rate instead of pausing.
    throttle_pause_s: float = Field(1.0, gt=0)
    # Temporary errors are retried this many times, then the message is failed;
    # the wait doubles from retry_delay_s (2, 4, 8, 16 s by default).
    max_attempts: int = Field(5, ge=1)
    retry_delay_s: float = Field(2.0, gt=0)
    registered_delivery: bool = True
    # What the SMSC means by data_coding 0 (SMPP 3.4 §5.2.19 "SMSC default alphabet"):
    # GSM 03.38 on most mobile SMSCs, but some gateways take Latin-1 or plain ASCII.
    # Unaccented replies still go out as data_coding 0, in this alphabet, and incoming
    # data_coding 0 is read in it. Accented (UCS-2) text is not affected.
    default_alphabet: Literal["gsm", "latin1", "ascii"] = "gsm"
    # Several SMSC binds, routed by the recipient's network (sms/routes.py); empty = the
    # one bind above (host, port, system_id, password) is the default route.
    binds: tuple[BindSettings, ...] = ()
    # Bind name -> password; from the environment only (TRACUU_SMPP_PASSWORDS, JSON).
    passwords: dict[str, SecretStr] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _lease_outlasts_an_answer(self) -> SmppSettings:
        if self.lease_s <= self.response_timeout_s:
            raise ValueError(
                f"smpp.lease_s ({self.lease_s:g} s) must exceed smpp.response_timeout_s"
                f" ({self.response_timeout_s:g} s): a live instance's parts in flight"
                " would be taken over and sent twice"
            )
        return self

    @model_validator(mode="after")
    def _binds_named_once(self) -> SmppSettings:
        names = [b.name for b in self.binds]
        if len(set(names)) != len(names):
            raise ValueError(f"SMPP bind names repeat: {names}")
        unknown = set(self.passwords) - set(names)
        if unknown:
            raise ValueError(f"passwords for unknown SMPP binds: {sorted(unknown)}")
        return self

    @property
    def configured(self) -> bool:
        """Whether any SMSC is configured (else SMS is off, or the demo's own SMSC)."""
        return bool(self.host or self.binds)

    def resolved_binds(self) -> list[tuple[BindSettings, SmppSettings]]:
        """Each bind with the whole link settings it runs with ([smpp] + its overrides);
        without `binds`, the single [smpp] bind named "default"."""
        if not self.binds:
            base = self.model_copy(update={"binds": (), "passwords": {}})
            single = BindSettings(name="default", host=self.host or "", default=True)
            return [(single, base)]
        out = []
        for bind in self.binds:
            update: dict[str, object] = {
                "host": bind.host,
                "port": bind.port,
                "system_id": bind.system_id,
                "password": self.passwords.get(bind.name, SecretStr("")),
                "binds": (),
                "passwords": {},
            }
            for key in ("system_type", "tps", "window", "source_addr", "tls"):
                value = getattr(bind, key)
                if value is not None:
                    update[key] = value
            out.append((bind, self.model_copy(update=update)))
        return out


class SmsSettings(Section):
    # Unaccented GSM-7 fits 160 characters a segment; diacritics force UCS-2 (70).
    accents: bool = False
    # A reply longer than this many parts is cut (with "...") rather than sent as a novel.
    max_parts: int = Field(4, ge=1, le=10)
    # Parts of a multipart SMS that do not all arrive within this are handled as they are.
    reassembly_timeout_s: float = Field(120.0, gt=0)
    # Lookups (status and wrong codes) per sender, to stop code enumeration; stored in the DB.
    lookups_per_hour: int = Field(10, ge=1)
    lookups_per_day: int = Field(30, ge=1)
    # Reminders go out only inside this local window (settings.timezone); others wait.
    window_start: time = time(7, 0)
    window_end: time = time(21, 0)
    # "Your appointment is in N days" reminders; 0 turns them off.
    reminder_days_before: int = Field(1, ge=0, le=30)
    # "Your result is still waiting" after the result has been ready this many days; 0 = off.
    not_collected_days: int = Field(7, ge=0, le=90)
    reminder_poll_s: float = Field(60.0, gt=0)
    # Reminder kind -> template overriding the built-in wording. Fields: {code} {date}
    # {place} {hours} {office}. Kinds: received supplement fee ready delayed soon uncollected.
    templates: dict[str, str] = Field(default_factory=dict)
    # sms_inbound and sms_message rows (phone numbers, citizens' texts) older than this
    # are deleted by the reminder job; 0 keeps them forever.
    retention_days: int = Field(90, ge=0, le=3650)
    # Where the SMPP link runs: "process", a worker process of its own at CPU priority
    # `link_nice` lower than the gateway's (sms/link_process.py); or "thread", a thread of
    # the gateway process. The worker is the default: in a thread the link shares the
    # gateway's GIL, and a garbage collection or a preemption while it holds the GIL stops
    # every call. Mixed bench (1,000 calls, a 100,000-reminder wave at ~1,900 parts/s, 50
    # texts/s): reply -> next AGI command p99 8.96 ms, max 57.8 ms with the thread; p99
    # 6.03 ms, max 33.8 ms with the worker (while the link sends: p99 6.35 vs 10.95 ms).
    # docs/benchmarks.md; docs/reliability.md for the lease renewal that made it safe.
    link_mode: Literal["process", "thread"] = "process"
    link_nice: int = Field(10, ge=0, le=19)
    # Where the reminder job runs: "process", a worker process of its own (its own
    # Database and lookup, sms/reminder_process.py) at CPU priority `reminder_nice` below
    # the gateway's; or "inline", a task on the gateway's event loop. A scan of a million
    # changed dossiers (about 50 s) inline shared the GIL with calls and their p99 rose
    # to 13-34 ms; in the worker the calls kept their goal (docs/benchmarks.md).
    reminder_mode: Literal["process", "inline"] = "process"
    reminder_nice: int = Field(10, ge=0, le=19)
    # Demo mode without an SMPP host runs the test SMSC here (0 = any free port).
    demo_smsc_port: int = Field(2775, ge=0, le=65535)
    # SMS a minute the demo texts itself through that SMSC, so the console moves
    # (`tracuu demo --traffic-per-min`; 0 = none).
    demo_traffic_per_min: float = Field(0.0, ge=0, le=600)


class SmsConfig(LookupConfig, Protocol):
    """What the SMS component and `tracuu sms`/`tracuu reminders` read of the settings
    aggregate (gateway.settings.Settings fits)."""

    @property
    def smpp(self) -> SmppSettings: ...

    @property
    def sms(self) -> SmsSettings: ...

    @property
    def demo(self) -> bool: ...
