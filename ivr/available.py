"""Which prompts Asterisk can really play: the live files under settings.sounds.dir.

A STREAM FILE of a missing file answers `200 result=-1 endpos=0` and the caller
hears silence (voice-and-audio.md), so a call asks this before it speaks a
dynamic prompt (txt_<hash>). The answer comes from one directory listing,
cached: rescanned after `ttl_s`, and at most every `miss_rescan_s` when a
prompt is not found (a prompt rendered a moment ago is seen at once, a storm
of misses does not list the directory on every call). A listing that fails
counts as "nothing there": a call then says the fallback, never silence.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from prompts.audio import FORMATS

log = logging.getLogger(__name__)


class LivePrompts:
    """`available(prompt_id)`: a live file exists for it in a format Asterisk plays."""

    def __init__(
        self,
        live_dir: Path,
        *,
        ttl_s: float = 30.0,
        miss_rescan_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._dir = live_dir
        self._ttl_s = ttl_s
        self._miss_rescan_s = miss_rescan_s
        self._clock = clock
        self._live: frozenset[str] = frozenset()
        self._scanned: float | None = None
        self._last_error = ""  # warned once per distinct failure, not at every rescan

    def __call__(self, prompt_id: str) -> bool:
        now = self._clock()
        age = None if self._scanned is None else now - self._scanned
        if (
            age is None
            or age >= self._ttl_s
            or (prompt_id not in self._live and age >= self._miss_rescan_s)
        ):
            self._scan(now)
        return prompt_id in self._live

    def _scan(self, now: float) -> None:
        self._scanned = now
        live: set[str] = set()
        try:
            with os.scandir(self._dir) as entries:
                for entry in entries:
                    stem, _, ext = entry.name.rpartition(".")
                    # Any one format will do: Asterisk transcodes from what there is.
                    if ext in FORMATS and not stem.startswith("."):
                        live.add(stem)
        except OSError as exc:
            if str(exc) != self._last_error:
                log.warning("cannot list voice prompts in %s: %s", self._dir, exc)
            self._last_error = str(exc)
        else:
            self._last_error = ""
        self._live = frozenset(live)
