"""The coverage report: for every prompt, what Asterisk will play and whether it is all there.

Pure: it takes the scripts, the manifest's records and what was found on disk
(format -> problem, gathered by prompts/service.py) and returns a Report. It
reads no file and no clock, so the report is exact and testable line by line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from prompts.audio import FORMATS
from prompts.versions import PromptRecord, state

LiveSource = Literal["recorded", "tts", "missing"]


@dataclass(frozen=True)
class Script:
    """A prompt to cover: from the catalog, or a dynamic txt_<hash> text."""

    id: str
    text: str
    group: str
    note: str = ""


@dataclass(frozen=True)
class Row:
    prompt_id: str
    group: str
    text: str
    source: LiveSource
    version: int | None
    duration_s: float | None
    files: dict[str, str]  # format -> "ok", "missing" or "differs" (from the manifest's checksum)
    stale: bool  # the live audio speaks an older script
    drafts: tuple[int, ...]  # versions waiting for approval
    by: str  # who recorded the live version, or the TTS engine

    @property
    def complete(self) -> bool:
        return self.source != "missing" and all(v == "ok" for v in self.files.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.prompt_id,
            "group": self.group,
            "text": self.text,
            "source": self.source,
            "version": self.version,
            "duration_s": self.duration_s,
            "files": self.files,
            "complete": self.complete,
            "stale": self.stale,
            "drafts": list(self.drafts),
            "by": self.by,
        }


@dataclass(frozen=True)
class Report:
    rows: tuple[Row, ...]
    orphans: tuple[str, ...]  # in the manifest but no longer in the catalog

    def count(self, source: LiveSource) -> int:
        return sum(1 for r in self.rows if r.source == source)

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(r.prompt_id for r in self.rows if r.source == "missing")

    @property
    def incomplete(self) -> tuple[str, ...]:
        """Live, but a format is missing or differs from what the manifest recorded."""
        return tuple(r.prompt_id for r in self.rows if r.source != "missing" and not r.complete)

    @property
    def stale(self) -> tuple[str, ...]:
        return tuple(r.prompt_id for r in self.rows if r.stale)

    @property
    def ok(self) -> bool:
        return not self.missing and not self.incomplete

    def summary(self) -> str:
        return (
            f"{len(self.rows)} prompts: {self.count('recorded')} recorded, "
            f"{self.count('tts')} TTS placeholders, {len(self.missing)} missing; "
            f"{len(self.incomplete)} with missing or damaged files; {len(self.stale)} stale"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "summary": {
                "total": len(self.rows),
                "recorded": self.count("recorded"),
                "tts": self.count("tts"),
                "missing": len(self.missing),
                "incomplete": len(self.incomplete),
                "stale": len(self.stale),
                "ok": self.ok,
            },
            "prompts": [r.to_dict() for r in self.rows],
            "orphans": list(self.orphans),
        }

    def table(self) -> str:
        lines = [self.summary(), ""]
        lines.append(f"{'PROMPT':<28} {'LIVE':<8} {'VER':>4} {'SECS':>5}  {'FILES':<10} SCRIPT")
        for r in self.rows:
            bad = [fmt for fmt, v in r.files.items() if v != "ok"]
            files = (
                "ok" if not bad else ("none" if len(bad) == len(FORMATS) else "no " + ",".join(bad))
            )
            flags = (" [stale]" if r.stale else "") + (
                f" [drafts: {', '.join(f'v{d}' for d in r.drafts)}]" if r.drafts else ""
            )
            version = "-" if r.version is None else f"v{r.version}"
            secs = "-" if r.duration_s is None else f"{r.duration_s:.1f}"
            script = r.text if len(r.text) <= 60 else r.text[:59] + "…"
            head = f"{r.prompt_id:<28} {r.source:<8} {version:>4} {secs:>5}"
            lines.append(f"{head}  {files:<10} {script}{flags}")
        if self.orphans:
            lines += ["", "In the manifest but not in the catalog: " + ", ".join(self.orphans)]
        return "\n".join(lines)


def build_report(
    scripts: Iterable[Script],
    records: Mapping[str, PromptRecord],
    disk: Mapping[str, Mapping[str, str]],
) -> Report:
    """`disk` maps a prompt id to format -> problem for its live files; absent = all fine."""
    rows = []
    seen = set()
    for script in scripts:
        seen.add(script.id)
        record = records.get(script.id) or PromptRecord(script.id)
        live = record.live_version
        problems = disk.get(script.id, {})
        files = {fmt: problems.get(fmt, "ok") for fmt in FORMATS}
        if live is None:
            files = {fmt: problems.get(fmt, "missing") for fmt in FORMATS}
        drafts = tuple(
            v.number for v in record.versions if v.number and state(record, v.number) == "draft"
        )
        rows.append(
            Row(
                prompt_id=script.id,
                group=script.group,
                text=script.text,
                source="missing"
                if live is None
                else ("recorded" if live.source == "recording" else "tts"),
                version=None if live is None else live.number,
                duration_s=None if live is None else live.duration_s,
                files=files,
                stale=live is not None and live.text != script.text,
                drafts=drafts,
                by="" if live is None else (live.by if live.source == "recording" else live.engine),
            )
        )
    orphans = tuple(
        sorted(pid for pid, r in records.items() if pid not in seen and r.live is not None)
    )
    return Report(tuple(rows), orphans)
