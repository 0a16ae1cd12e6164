"""Settings come from TRACUU_* variables and a TOML file; typos are fatal."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from gateway.settings import Settings

pytestmark = pytest.mark.no_store


def test_defaults_match_the_documented_ports_and_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACUU_CONFIG", "/nonexistent.toml")
    settings = Settings()
    assert settings.agi.port == 4573
    assert settings.http.port == 8080
    assert settings.sqlite_path == Path("var/tracuu.sqlite3")
    assert settings.timezone == "Asia/Ho_Chi_Minh"


def test_environment_reaches_nested_sections(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACUU_CONFIG", "/nonexistent.toml")
    monkeypatch.setenv("TRACUU_AGI_PORT", "5000")
    monkeypatch.setenv("TRACUU_SMPP_SYSTEM_ID", "office1")
    monkeypatch.setenv("TRACUU_SMPP_PASSWORD", "s3cret")
    monkeypatch.setenv("TRACUU_AGENCIES", '[{"id": "G22.99", "name": "UBND xã A"}]')
    settings = Settings()
    assert settings.agi.port == 5000
    assert settings.smpp.system_id == "office1"
    assert settings.smpp.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)
    assert [a.id for a in settings.agencies] == ["G22.99"]


def test_toml_file_is_read_and_environment_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "tracuu.toml"
    config.write_text(
        'database = "/srv/a.sqlite3"\n[agi]\nport = 4600\n[office]\nname = "UBND xã B"\n'
    )
    monkeypatch.setenv("TRACUU_CONFIG", str(config))
    monkeypatch.setenv("TRACUU_AGI_PORT", "4700")
    settings = Settings()
    assert settings.sqlite_path == Path("/srv/a.sqlite3")
    assert settings.office.name == "UBND xã B"
    assert settings.agi.port == 4700


def test_a_misspelt_key_is_an_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "tracuu.toml"
    config.write_text("[agi]\nprot = 4600\n")
    monkeypatch.setenv("TRACUU_CONFIG", str(config))
    with pytest.raises(ValidationError, match="prot"):
        Settings()


def test_unknown_time_zone_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACUU_CONFIG", "/nonexistent.toml")
    monkeypatch.setenv("TRACUU_TIMEZONE", "Asia/Atlantis")
    with pytest.raises(ValidationError):
        Settings()


def test_empty_variables_from_compose_count_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACUU_CONFIG", "/nonexistent.toml")
    monkeypatch.setenv("TRACUU_SMPP_HOST", "")
    monkeypatch.setenv("TRACUU_AMI_HOST", "")
    settings = Settings()
    assert settings.smpp.host is None
    assert settings.ami.host is None


def test_example_config_file_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    example = Path(__file__).parent.parent / "tracuu.example.toml"
    monkeypatch.setenv("TRACUU_CONFIG", str(example))
    settings = Settings()
    assert settings.agencies[0].id
    assert settings.office.name.startswith("Bộ phận")


def test_a_secret_one_table_deeper_merges_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "tracuu.toml"
    config.write_text(
        '[lookup]\nbackend = "http"\n[lookup.http]\nurl_template = "http://x/{code}"\n'
    )
    monkeypatch.setenv("TRACUU_CONFIG", str(config))
    monkeypatch.setenv("TRACUU_LOOKUP_HTTP", '{"token": "t0ken"}')
    settings = Settings()
    assert settings.lookup.http.url_template == "http://x/{code}"
    assert settings.lookup.http.token.get_secret_value() == "t0ken"
    assert "t0ken" not in repr(settings)
