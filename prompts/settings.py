"""Settings of the voice prompts: where Asterisk finds them, how placeholders are made."""

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol, Self

from pydantic import Field

from kernel.section import Section
from lookup.settings import LookupConfig
from messages.numbers import Region
from messages.voice import OpeningWindow


class SoundsSettings(Section):
    # Files go to <dir>/vi/tracuu/<prompt id>.<ext>; Asterisk's astdatadir/sounds in production.
    dir: Path = Path("var/sounds")
    # Versions, the TTS cache and the manifest; default <dir>/.tracuu. Going live copies
    # a version's files to a temp name beside the live ones and renames them into place.
    store: Path | None = None
    # Placeholder engine: "auto" tries gTTS (online) and falls back to espeak-ng for the
    # rest of the run after the first failure; "espeak" never touches the network.
    engine: Literal["auto", "gtts", "espeak"] = "auto"
    gtts_timeout_s: float = Field(5.0, gt=0)
    espeak_voice: str = "vi"
    espeak_rate_wpm: int = Field(150, ge=80, le=450)  # espeak-ng's 175 is hurried on a phone
    # Staff uploads: anything outside these limits is refused with the reason.
    max_upload_bytes: int = Field(20_000_000, gt=0)
    min_recording_s: float = Field(0.3, gt=0)
    max_recording_s: float = Field(60.0, gt=0)
    # Re-render the dynamic prompts (procedure names, collection places) this often.
    refresh_s: float = Field(3600.0, gt=0)
    ffmpeg: str = "ffmpeg"
    espeak: str = "espeak-ng"

    @property
    def live_dir(self) -> Path:
        """Where Asterisk looks for `tracuu/<id>` with the channel language `vi`."""
        return self.dir / "vi" / "tracuu"

    @property
    def store_dir(self) -> Path:
        return self.store if self.store is not None else self.dir / ".tracuu"


class OfficerHours(Protocol):
    """The voice side's section, as far as prompts reads it: the hours an officer takes
    transfers, spoken by messages.voice.OFFICER_HOURS_PROMPT (ivr.settings.AgiSettings fits)."""

    @property
    def hours(self) -> Sequence[OpeningWindow]: ...


class PromptsConfig(LookupConfig, Protocol):
    """What the prompts component and `tracuu prompts` read of the settings aggregate
    (gateway.settings.Settings fits)."""

    @property
    def sounds(self) -> SoundsSettings: ...

    @property
    def region(self) -> Region: ...

    @property
    def agi(self) -> OfficerHours: ...

    def model_copy(
        self, *, update: Mapping[str, Any] | None = None, deep: bool = False
    ) -> Self: ...
