"""Settings of the voice side: FastAGI server, call flow, office hours, AMI monitor.

Everything lives under [agi] and [ami] so the root Settings needs no new
section: TRACUU_AGI_MAX_CALLS=300, TRACUU_AGI_HOLIDAYS='["2026-09-02"]'.
"""

from collections.abc import Mapping
from datetime import date, time
from typing import Any, Protocol, Self

from pydantic import Field, SecretStr, model_validator

from kernel.section import Section
from lookup.settings import LookupConfig
from messages.numbers import Region
from prompts.settings import SoundsSettings


class OfficeHours(Section):
    """One opening window on some weekdays (0 = Monday)."""

    weekdays: tuple[int, ...] = (0, 1, 2, 3, 4)
    start: time = time(7, 30)
    end: time = time(17, 0)

    @model_validator(mode="after")
    def _ordered(self) -> "OfficeHours":
        if self.start >= self.end or any(not 0 <= d <= 6 for d in self.weekdays):
            raise ValueError("office hours need start < end and weekdays 0..6")
        return self


class AgiSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(4573, ge=0, le=65535)  # 0: any free port (tests)
    # Calls served at once; the surplus is handed back to the dialplan with
    # TRACUU_NEXT=busy (asterisk/extensions.conf plays "all lines busy" there).
    max_calls: int = Field(200, ge=1)
    # The agi_* block must arrive within this and fit in header_bytes.
    header_timeout_s: float = Field(5.0, gt=0)
    header_bytes: int = Field(16384, ge=1024)
    # Bound on a reply to a command that neither plays nor waits for keys.
    command_timeout_s: float = Field(10.0, gt=0)
    # Longest prompt file we ship; playback commands wait this plus their keying time.
    prompt_max_s: float = Field(60.0, gt=0)
    # A lookup slower than this is treated as "system busy" (the caller hears please_wait first).
    lookup_timeout_s: float = Field(2.0, gt=0)
    # On shutdown, live calls get this long to finish before they are handed to the dialplan.
    drain_s: float = Field(30.0, ge=0)
    # Dialplan variable that tells extensions.conf what to do after AGI() returns.
    next_variable: str = "TRACUU_NEXT"
    # Flow rules (FreePBX-style separate counts for silence and wrong keys).
    max_no_input: int = Field(3, ge=1)
    max_invalid: int = Field(3, ge=1)
    max_not_found: int = Field(2, ge=1)
    max_secret_tries: int = Field(2, ge=1)
    menu_timeout_s: float = Field(6.0, gt=0)
    code_timeout_s: float = Field(8.0, gt=0)
    inter_digit_s: float = Field(5.0, gt=0)
    # Code and second-factor lookups one caller ID may make in an hour, across calls.
    lookups_per_hour: int = Field(20, ge=1)
    # When an officer can take a transfer (settings.timezone); holidays close the whole day.
    hours: tuple[OfficeHours, ...] = (OfficeHours(),)
    holidays: tuple[date, ...] = ()


class AmiSettings(Section):
    # No host: the AMI monitor does not start.
    host: str | None = None
    port: int = Field(5038, ge=1, le=65535)
    username: str = "tracuu"
    password: SecretStr = SecretStr("")
    # A Ping without its answer within this means a half-open connection: reconnect.
    ping_s: float = Field(10.0, gt=0)
    action_timeout_s: float = Field(5.0, gt=0)
    reconnect_min_s: float = Field(1.0, gt=0)
    reconnect_max_s: float = Field(60.0, gt=0)
    # Outbound notification calls (asterisk/extensions.conf [tracuu-notify]).
    originate_channel: str = "Local/{number}@tracuu-dialout"
    originate_context: str = "tracuu-notify"
    originate_timeout_s: float = Field(45.0, gt=0)
    caller_id: str = "tracuu"
    notify_attempts: int = Field(3, ge=1)
    notify_retry_s: float = Field(600.0, gt=0)
    # Citizens are only called in this local window (settings.timezone); calls due at
    # night wait for the morning (courtesy; Decree 91/2020 sets 07:00-22:00 for adverts).
    notify_window_start: time = time(8, 0)
    notify_window_end: time = time(20, 0)


class VoiceConfig(LookupConfig, Protocol):
    """What the voice component and `tracuu call` read of the settings aggregate
    (gateway.settings.Settings fits)."""

    @property
    def agi(self) -> AgiSettings: ...

    @property
    def ami(self) -> AmiSettings: ...

    @property
    def sounds(self) -> SoundsSettings: ...

    @property
    def region(self) -> Region: ...

    def model_copy(
        self, *, update: Mapping[str, Any] | None = None, deep: bool = False
    ) -> Self: ...
