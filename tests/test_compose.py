"""docker-compose.yml, checked without a Docker engine.

Against the Compose Specification's JSON schema (tests/schemas/, vendored from
check-jsonschema), plus what the schema cannot know: no obsolete keys, every
${VAR} documented in .env.example, secrets only by interpolation, .env never
committed, and the two database profiles wired as docs/deployment.md says.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

pytestmark = pytest.mark.no_store

ROOT = Path(__file__).parent.parent
SCHEMA = json.loads((Path(__file__).parent / "schemas" / "compose-spec.json").read_text("utf-8"))
COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text("utf-8")
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_TEXT)  # merge keys (<<) resolved
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}; $$ is a literal dollar.
VARIABLE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-?+][^}]*)?\}")


def env_example() -> dict[str, str]:
    values = {}
    for line in (ROOT / ".env.example").read_text("utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value
    return values


def errors(document: Any) -> list[str]:
    validator = jsonschema.Draft202012Validator(SCHEMA)
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(document)
    ]


def test_the_compose_file_follows_the_compose_specification() -> None:
    assert errors(COMPOSE) == []


@pytest.mark.parametrize(
    "broken",
    [
        {"services": {"tracuu": {"image": "x", "helthcheck": {}}}},  # misspelt key
        {"services": {"tracuu": {"image": "x", "restart": ["always"]}}},  # wrong type
        {"services": {"tracuu": {"image": "x"}}, "volume": {}},  # unknown top-level key
    ],
)
def test_the_schema_check_catches_a_broken_file(broken: dict[str, Any]) -> None:
    assert errors(broken) != []


def test_no_obsolete_keys() -> None:
    # Compose v2 warns that `version` is obsolete and ignores it (deprecated in the schema).
    assert "version" not in COMPOSE
    assert not re.search(r"^version:", COMPOSE_TEXT, re.MULTILINE)
    for name, service in COMPOSE["services"].items():
        assert "links" not in service, name  # networks do this
        assert "container_name" not in service, name  # would stop `--scale`


def test_every_variable_used_is_in_env_example() -> None:
    used = set(VARIABLE.findall(COMPOSE_TEXT))
    documented = set(env_example())
    assert used, "the pattern must find the file's variables"
    assert sorted(used - documented) == []
    # And .env.example names nothing the compose file ignores (COMPOSE_PROFILES is compose's).
    assert sorted(documented - used - {"COMPOSE_PROFILES"}) == []


def test_secrets_come_only_from_env() -> None:
    example = env_example()
    for name, value in example.items():
        if "PASSWORD" in name:
            assert value == "", f"{name}: .env.example must not carry a secret"
    for service in COMPOSE["services"].values():
        for name, value in (service.get("environment") or {}).items():
            if "PASSWORD" in name:
                assert re.fullmatch(r"\$\{[A-Z_]+:-\}", str(value)), name
            if name == "TRACUU_DATABASE" and str(value).startswith("postgresql://"):
                assert ":${POSTGRES_PASSWORD:-}@" in str(value)
    ignored = (ROOT / ".gitignore").read_text("utf-8").split()
    assert ".env" in ignored


def test_profiles_pick_the_database() -> None:
    services = COMPOSE["services"]
    assert services["tracuu"]["profiles"] == ["sqlite"]
    assert services["tracuu"]["environment"]["TRACUU_DATABASE"].endswith(".sqlite3")
    on_pg = services["tracuu-postgres"]
    assert on_pg["profiles"] == ["postgres"] == services["postgres"]["profiles"]
    assert on_pg["environment"]["TRACUU_DATABASE"].startswith("postgresql://tracuu:")
    assert on_pg["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    # Both forms of tracuu answer /healthz; the rest of their settings are one anchor.
    for name in ("tracuu", "tracuu-postgres"):
        assert "/healthz" in " ".join(services[name]["healthcheck"]["test"]), name
    same = {k: v for k, v in on_pg["environment"].items() if k != "TRACUU_DATABASE"}
    assert same == {
        k: v for k, v in services["tracuu"]["environment"].items() if k != "TRACUU_DATABASE"
    }
    assert env_example()["COMPOSE_PROFILES"] in ("sqlite", "postgres")
    # Asterisk waits for nobody: while tracuu is down its dialplan apologises.
    assert "depends_on" not in services["asterisk"]
