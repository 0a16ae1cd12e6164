"""Where each setting came from: a TRACUU_* variable, the TOML file, a start-up argument or
the default, in the order Settings reads them (gateway/settings.py). For the console's
read-only /settings page; it never looks at a value."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from console.config_view import Origin, OriginOf

PREFIX = "TRACUU_"


def origins(settings: BaseModel, environ: Mapping[str, str], toml_file: Path) -> OriginOf:
    # pydantic-settings matches variable names whatever their case; empty ones are unset.
    env = {name.upper(): value for name, value in environ.items() if value != ""}
    toml = _read_toml(toml_file)

    def origin_of(path: tuple[str, ...]) -> Origin | None:
        top = path[0]
        whole = f"{PREFIX}{top.upper()}"
        if len(path) == 1:
            if whole in env:
                return ("env", whole)
            if top in toml:
                return ("toml", str(toml_file))
            return ("start", "") if top in settings.model_fields_set else ("default", "")
        # Nested: TRACUU_SMPP_HOST (one split only: deeper keys are JSON inside it).
        field = path[1]
        one = f"{PREFIX}{top.upper()}_{field.upper()}"
        if one in env:
            return ("env", one)
        if whole in env and field in _json_keys(env[whole]):
            return ("env", whole)
        section = toml.get(top)
        if isinstance(section, dict) and field in section:
            return ("toml", str(toml_file))
        return ("default", "")

    return origin_of


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except (OSError, tomllib.TOMLDecodeError):
        return {}


def _json_keys(text: str) -> set[str]:
    try:
        value = json.loads(text)
    except ValueError:
        return set()
    return set(value) if isinstance(value, dict) else set()
