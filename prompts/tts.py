"""Text-to-speech for placeholder prompts: gTTS when reachable, espeak-ng offline.

Owns the engines behind one small interface, `Synthesizer.synthesize(text) ->
Speech` (an audio file in any format ffmpeg reads), and the breaker that stops
asking gTTS after a failure for a cool-down (an hour by default), then tries it
again. `shared_synthesizer` hands every render pass of the process the same
breaker, so an offline gateway logs the trip once, not once per pass. A
synthesizer hands back bytes (with the name of the engine that really answered)
and never writes a file, so gTTS's 0-byte files on failure cannot reach the
sounds directory.

Refuses: turning numbers into words (prompts/spoken.py does it before), and
running inside a call: gTTS needs Google's servers, so placeholders are rendered
ahead of time. gTTS is untyped and stops here.
"""

from __future__ import annotations

import contextlib
import io
import logging
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)


class SynthesisFailed(Exception):
    """The engine produced no usable audio (offline, timed out, empty output, missing)."""


@dataclass(frozen=True)
class Speech:
    """Synthesised audio, and who made it (part of the placeholder cache key)."""

    audio: bytes  # a file in any format ffmpeg reads (WAV from espeak-ng, MP3 from gTTS)
    engine: str
    voice: str


class Synthesizer(Protocol):
    """`engine` and `voice` name who will answer the next request."""

    @property
    def engine(self) -> str: ...

    @property
    def voice(self) -> str: ...

    def synthesize(self, text: str) -> Speech: ...


class EspeakSynthesizer:
    """espeak-ng (Debian package espeak-ng): robotic but real Vietnamese with tones, offline."""

    engine = "espeak-ng"

    def __init__(self, voice: str = "vi", rate_wpm: int = 150, binary: str = "espeak-ng") -> None:
        self._voice, self._rate, self._binary = voice, rate_wpm, binary
        self.voice = f"{voice}@{rate_wpm}wpm"

    def synthesize(self, text: str) -> Speech:
        command = [self._binary, "-v", self._voice, "-s", str(self._rate), "--stdout"]
        try:
            done = subprocess.run(
                command, input=text.encode("utf-8"), capture_output=True, timeout=60, check=False
            )
        except FileNotFoundError as exc:
            raise SynthesisFailed(
                f"{self._binary} is not installed (Debian package espeak-ng)"
            ) from exc
        except subprocess.TimeoutExpired as exc:
            raise SynthesisFailed(f"{self._binary} took more than 60 s") from exc
        if done.returncode != 0 or len(done.stdout) <= 44:
            why = done.stderr.decode("utf-8", "replace").strip() or f"exit {done.returncode}"
            raise SynthesisFailed(f"{self._binary} -v {self._voice}: {why}")
        return Speech(done.stdout, self.engine, self.voice)


class _Speech(Protocol):
    """The part of gtts.gTTS we use."""

    def write_to_fp(self, fp: io.BytesIO) -> None: ...


SpeechFactory = Callable[[str, float], _Speech]


def _gtts(text: str, timeout_s: float) -> _Speech:
    from gtts import gTTS

    speech: _Speech = gTTS(text, lang="vi", timeout=timeout_s)
    return speech


class GttsSynthesizer:
    """Google Translate's voice through gTTS: natural, but online only.

    gTTS waits forever by default (about 134 s when a firewall drops packets, never
    when a peer accepts and stays silent), so it always gets `timeout=`, and the
    whole request also runs against a hard deadline in a daemon thread. Tests pass
    `factory` to simulate gTTS's failures; gTTS itself is never called there.
    """

    engine = "gtts"
    voice = "vi"

    def __init__(self, timeout_s: float = 5.0, factory: SpeechFactory = _gtts) -> None:
        self._timeout_s, self._factory = timeout_s, factory

    def synthesize(self, text: str) -> Speech:
        buffer = io.BytesIO()
        failure: list[BaseException] = []

        def work() -> None:
            try:
                self._factory(text, self._timeout_s).write_to_fp(buffer)
            except Exception as exc:  # gTTSError, requests' errors, anything: all mean "no audio"
                failure.append(exc)

        worker = threading.Thread(target=work, name="gtts", daemon=True)
        worker.start()
        # gTTS splits long texts into ~100-character requests, each with its own timeout.
        deadline_s = self._timeout_s * (1 + len(text) // 100) + 1.0
        worker.join(deadline_s)
        if worker.is_alive():
            raise SynthesisFailed(f"gTTS did not answer within {deadline_s:.1f} s")
        if failure:
            raise SynthesisFailed(f"gTTS failed: {failure[0]}") from failure[0]
        audio = buffer.getvalue()
        if not audio:
            raise SynthesisFailed("gTTS returned no audio (0 bytes)")
        return Speech(audio, self.engine, self.voice)


# How long a tripped breaker keeps gTTS out: long enough that an offline office pays
# one timeout an hour at most, short enough that placeholders improve once it is back.
COOLDOWN_S = 3600.0


class FallbackSynthesizer:
    """Try `primary` until it fails, then use `fallback` for `cooldown_s`, then retry.

    One failure trips the breaker: when Google is unreachable, every further try
    would cost a full timeout. Without a fallback, later requests fail at once.
    After the cool-down the next request probes the primary again (one at a time).
    """

    def __init__(
        self,
        primary: Synthesizer,
        fallback: Synthesizer | None,
        *,
        cooldown_s: float = COOLDOWN_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._primary, self._fallback = primary, fallback
        self._cooldown_s, self._clock = cooldown_s, clock
        self._lock = threading.Lock()
        self._probe = threading.Lock()
        self._proven = False
        self._tripped_at = 0.0
        self.tripped: str | None = None  # why the primary was given up
        # Safe from several threads: the result names the engine that made it.

    @property
    def _current(self) -> Synthesizer:
        return self._fallback if self.tripped and self._fallback else self._primary

    @property
    def engine(self) -> str:
        return self._current.engine

    @property
    def voice(self) -> str:
        return self._current.voice

    def synthesize(self, text: str) -> Speech:
        if self.tripped is not None and self._clock() - self._tripped_at >= self._cooldown_s:
            with self._lock:
                if self.tripped is not None:
                    log.info("%s: cool-down over, trying it again", self._primary.engine)
                    self.tripped, self._proven = None, False
        if self.tripped is None:
            # Until the primary has answered once, one request at a time: when it is down
            # from the start, exactly one request fails (and may cost one timeout).
            with self._probe if not self._proven else contextlib.nullcontext():
                if self.tripped is None:
                    try:
                        speech = self._primary.synthesize(text)
                    except SynthesisFailed as exc:
                        self._trip(exc)
                        if self._fallback is None:
                            raise
                    else:
                        self._proven = True
                        return speech
        if self._fallback is None:
            raise SynthesisFailed(f"skipped: {self._primary.engine} already failed in this run")
        return self._fallback.synthesize(text)

    def _trip(self, exc: SynthesisFailed) -> None:
        with self._lock:
            if self.tripped is None:
                self.tripped = str(exc)
                self._tripped_at = self._clock()
                log.warning(
                    "%s failed (%s); %s for %.0f min, then it is tried again",
                    self._primary.engine,
                    exc,
                    f"using {self._fallback.engine}" if self._fallback else "not asking it",
                    self._cooldown_s / 60,
                )


def synthesizer_for(
    engine: str, *, voice: str = "vi", rate_wpm: int = 150, timeout_s: float = 5.0
) -> Synthesizer:
    """The synthesizer for a settings/CLI engine name: "espeak", "gtts" or "auto".

    gTTS always sits behind the breaker: with "auto" espeak-ng takes over after its
    first failure; with "gtts" alone the remaining prompts fail at once instead of
    each waiting for a timeout.
    """
    espeak = EspeakSynthesizer(voice, rate_wpm)
    if engine == "espeak":
        return espeak
    if engine == "gtts":
        return FallbackSynthesizer(GttsSynthesizer(timeout_s), None)
    if engine == "auto":
        return FallbackSynthesizer(GttsSynthesizer(timeout_s), espeak)
    raise ValueError(f"unknown TTS engine {engine!r} (espeak, gtts or auto)")


_SHARED: dict[tuple[str, str, int, float], Synthesizer] = {}
_SHARED_LOCK = threading.Lock()


def shared_synthesizer(
    engine: str, *, voice: str = "vi", rate_wpm: int = 150, timeout_s: float = 5.0
) -> Synthesizer:
    """synthesizer_for(), one per process and configuration: every render pass (start-up,
    refresh, prompts a call wanted) shares its breaker, so a trip is logged once."""
    key = (engine, voice, rate_wpm, timeout_s)
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = synthesizer_for(
                engine, voice=voice, rate_wpm=rate_wpm, timeout_s=timeout_s
            )
        return _SHARED[key]
