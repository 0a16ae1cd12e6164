"""What there is to cover and what is on disk: the store the settings name, the scripts
every voice prompt needs, and the coverage report from the files really there.

Apart from prompts/service.py (the running component) so that the CLI and the
console's prompt studio read the same report without importing a service.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from prompts.audio import FORMATS
from prompts.coverage import Report, Script, build_report
from prompts.database import PromptDb
from prompts.settings import SoundsSettings
from prompts.store import Manifest, Store


def store_for(sounds: SoundsSettings, db: PromptDb) -> Store:
    """The installation's prompts (in `db`) and this machine's directories (`sounds`)."""
    return Store(sounds.dir, sounds.store_dir, db)


# Catalog groups that are only ever written (SMS wording), never spoken: no audio.
TEXT_ONLY_GROUPS = frozenset({"sms"})


def scripts_for(
    manifest: Manifest,
    catalog: Iterable[Script] | None = None,
    needed: Mapping[str, str] | None = None,
) -> list[Script]:
    """Every prompt to cover: the spoken catalog entries, then the dynamic texts known
    (the manifest's, and `needed`: those the data calls for, rendered or not)."""
    if catalog is None:
        from prompts.catalog import load_catalog

        catalog = [Script(p.id, p.text, p.group, p.note) for p in load_catalog()]
    scripts = [s for s in catalog if s.group not in TEXT_ONLY_GROUPS]
    known = {s.id for s in scripts}
    scripts += [
        Script(
            pid,
            text,
            "dynamic",
            "Tên thủ tục, cơ quan, nơi trả kết quả, giấy tờ hoặc giờ làm việc; đọc rõ, đều."
            if pid.startswith("txt_")
            else "Lấy từ cài đặt (giờ làm việc agi.hours); đọc chậm, rõ từng mốc giờ.",
        )
        for pid, text in {**(needed or {}), **manifest.dynamic}.items()
        if pid not in known
    ]
    return scripts


def inspect(store: Store, scripts: Iterable[Script]) -> Report:
    """The coverage report, from the manifest (the database) and the files really on disk
    (written from it on this machine)."""
    manifest = store.read()
    scripts = list(scripts)
    disk: dict[str, dict[str, str]] = {}
    for script in scripts:
        live = manifest.record(script.id).live_version
        if live is not None:
            problems = store.live_matches(script.id, live)
        else:
            problems = {
                fmt: "unmanaged" if store.live_path(script.id, fmt).is_file() else "missing"
                for fmt in FORMATS
            }
        if problems:
            disk[script.id] = problems
    return build_report(scripts, manifest.records, disk)
