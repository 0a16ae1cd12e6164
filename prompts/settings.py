"""Settings of the voice prompts: where Asterisk finds them."""

from pathlib import Path

from gateway.section import Section


class SoundsSettings(Section):
    # Files go to <dir>/vi/tracuu/<prompt id>.<ext>; Asterisk's astdatadir/sounds in production.
    dir: Path = Path("var/sounds")
