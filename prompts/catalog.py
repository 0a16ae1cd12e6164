"""The prompt catalog: every prompt id and the Vietnamese it stands for.

The data lives in prompts/catalog/*.toml (core.toml for messages, ivr.toml and
sms.toml for the channels). Each file is a set of tables, one per prompt id:

    [status_processing]
    text = "đang được xử lý."      # the spoken script; also the default written form
    sms = "đang xử lý."            # optional shorter written form
    group = "status"               # answer, status, number, date, digit, system, …
    note = "Giọng đều, …"          # guidance for the staff member who records it

Loading merges every file and rejects a malformed id, text that is empty or not
NFC, an unknown key, and an id defined twice (in one file or across files).
Refuses: audio, TTS and recording paths (prompts/audio.py, prompts/tts.py).
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

CATALOG_DIR = Path(__file__).parent / "catalog"

_ID = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*", re.ASCII)
_GROUP = re.compile(r"[a-z][a-z0-9_]*", re.ASCII)
_KEYS = frozenset({"text", "sms", "group", "note"})
_REQUIRED = ("text", "group", "note")


class CatalogError(ValueError):
    """A catalog file is malformed or clashes with another."""


@dataclass(frozen=True, slots=True)
class Prompt:
    """One catalogued prompt."""

    id: str
    text: str  # spoken script, NFC
    group: str
    note: str  # recording guidance for staff
    sms: str | None = None  # shorter written form
    source: str = ""  # file it came from, for error messages

    @property
    def written(self) -> str:
        """What text channels show: the SMS wording when there is one."""
        return self.text if self.sms is None else self.sms


class Catalog:
    """Prompt id -> Prompt, in file order; read-only."""

    __slots__ = ("_prompts",)

    def __init__(self, prompts: Iterable[Prompt]) -> None:
        merged: dict[str, Prompt] = {}
        for prompt in prompts:
            _check(prompt)
            if prompt.id in merged:
                first = merged[prompt.id].source or "?"
                raise CatalogError(
                    f"prompt id {prompt.id!r} defined twice: in {first} and {prompt.source or '?'}"
                )
            merged[prompt.id] = prompt
        self._prompts = merged

    def __contains__(self, prompt_id: object) -> bool:
        return prompt_id in self._prompts

    def __getitem__(self, prompt_id: str) -> Prompt:
        return self._prompts[prompt_id]

    def __iter__(self) -> Iterator[Prompt]:
        return iter(self._prompts.values())

    def __len__(self) -> int:
        return len(self._prompts)

    def get(self, prompt_id: str) -> Prompt | None:
        return self._prompts.get(prompt_id)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(self._prompts)

    def group(self, name: str) -> tuple[Prompt, ...]:
        return tuple(p for p in self._prompts.values() if p.group == name)

    def missing(self, prompt_ids: Iterable[str]) -> set[str]:
        """The ids among `prompt_ids` that this catalog lacks (for start-up checks)."""
        return {i for i in prompt_ids if i not in self._prompts}


def _check_text(prompt: Prompt, field: str, value: str) -> None:
    where = f"{prompt.source or '?'}: [{prompt.id}] {field}"
    if not value.strip():
        raise CatalogError(f"{where} is empty")
    if value != value.strip():
        raise CatalogError(f"{where} has leading or trailing whitespace")
    if unicodedata.normalize("NFC", value) != value:
        raise CatalogError(f"{where} is not NFC-normalised")


def _check(prompt: Prompt) -> None:
    if not _ID.fullmatch(prompt.id):
        raise CatalogError(f"{prompt.source or '?'}: {prompt.id!r} is not a snake_case ASCII id")
    if not _GROUP.fullmatch(prompt.group):
        raise CatalogError(f"{prompt.source or '?'}: [{prompt.id}] group {prompt.group!r}")
    _check_text(prompt, "text", prompt.text)
    _check_text(prompt, "note", prompt.note)
    if prompt.sms is not None:
        _check_text(prompt, "sms", prompt.sms)


def parse_catalog_file(path: Path) -> list[Prompt]:
    """The prompts of one TOML file, in file order, each checked on its own."""
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{path.name}: {exc}") from exc
    prompts = []
    for prompt_id, entry in data.items():
        if not isinstance(entry, dict):
            raise CatalogError(f"{path.name}: {prompt_id!r} must be a table")
        unknown = set(entry) - _KEYS
        if unknown:
            raise CatalogError(f"{path.name}: [{prompt_id}] unknown keys {sorted(unknown)}")
        for key in _REQUIRED:
            if key not in entry:
                raise CatalogError(f"{path.name}: [{prompt_id}] lacks {key!r}")
        if not all(isinstance(value, str) for value in entry.values()):
            raise CatalogError(f"{path.name}: [{prompt_id}] values must be strings")
        prompt = Prompt(
            id=prompt_id,
            text=entry["text"],
            group=entry["group"],
            note=entry["note"],
            sms=entry.get("sms"),
            source=path.name,
        )
        _check(prompt)
        prompts.append(prompt)
    return prompts


def load_catalog(paths: Iterable[Path] | None = None) -> Catalog:
    """Merge catalog files; by default every prompts/catalog/*.toml, sorted by name.

    A directory among `paths` stands for the *.toml files inside it.
    """
    files: list[Path] = []
    for path in [CATALOG_DIR] if paths is None else paths:
        files += sorted(path.glob("*.toml")) if path.is_dir() else [path]
    return Catalog(prompt for file in files for prompt in parse_catalog_file(file))
