"""The prompts' store for tests: this test's database (SQLite, or a PostgreSQL schema in
the PG pass: conftest's `store_url`) and the sounds directories under tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from prompts.database import PromptDb
from prompts.store import Store


@contextmanager
def prompt_store(
    sounds_dir: Path, location: object, store_dir: Path | None = None
) -> Iterator[Store]:
    db = PromptDb.open(location)
    try:
        yield Store(sounds_dir, store_dir or sounds_dir / ".tracuu", db)
    finally:
        db.close()
