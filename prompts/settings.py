"""Settings of the voice prompts: where Asterisk finds them, how placeholders are made."""

from pathlib import Path
from typing import Literal

from pydantic import Field

from kernel.section import Section


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
