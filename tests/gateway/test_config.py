"""Configuration: documented defaults, validation that names the key, secrets."""

from __future__ import annotations

import ipaddress
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.config import ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parents[2]


def test_example_config_is_valid_and_documents_every_option() -> None:
    config = load_config(ROOT / "bccrm.example.toml")
    assert (config.gateway.host, config.gateway.port) == ("127.0.0.1", 2525)
    assert config.spool.path == ROOT / "var" / "spool"
    assert config.database.url == f"sqlite:///{ROOT / 'var' / 'bccrm.db'}"
    text = (ROOT / "bccrm.example.toml").read_text()
    for section in (
        "gateway",
        "spool",
        "worker",
        "database",
        "organization",
        "matching",
        "privacy",
        "retention",
        "logging",
        "diagnostics",
        "plugins",
    ):
        fields = getattr(config, section).__dataclass_fields__
        for key in set(fields) - {"settings", "base_dir"}:  # [plugin.*] tables, not keys
            assert f"{key} =" in text, f"[{section}] {key} is not in bccrm.example.toml"


def test_defaults_trust_only_loopback() -> None:
    config = parse_config({}, base_dir=Path("/"))
    assert config.gateway.trusted_networks == (
        ipaddress.ip_network("127.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    )
    assert config.logging.addresses == ("log@crm.example.com",)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"gateway": {"port": "25"}}, "gateway.port: expected int"),
        ({"gateway": {"port": 70000}}, "gateway.port: must be 0..65535"),
        ({"gateway": {"prot": 25}}, "gateway.prot: unknown option"),
        ({"gateway": {"trusted_networks": ["10.0.0.300/8"]}}, "gateway.trusted_networks"),
        ({"gatway": {}}, "gatway: unknown option"),
        ({"logging": {"addresses": []}}, "logging.addresses: at least one"),
        ({"logging": {"addresses": ["log+x@crm.example.com"]}}, "logging.addresses"),
        ({"organization": {"default_region": "Poland"}}, "organization.default_region"),
        ({"organization": {"domains": ["not a domain"]}}, "organization.domains"),
        ({"organization": {"free_mail_domains": ["x y"]}}, "organization.free_mail_domains"),
        ({"database": {"url": "bccrm.db"}}, "database.url"),
        ({"database": {"url": {"env": "BCCRM_TEST_UNSET_VARIABLE"}}}, "database.url"),
        ({"worker": {"max_attempts": 0}}, "worker.max_attempts"),
        ({"worker": {"nice": 20}}, "worker.nice: must be 0..19"),
        ({"diagnostics": {"log_format": "xml"}}, "diagnostics.log_format"),
    ],
)
def test_invalid_values_name_the_key(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("+", r"\+")):
        parse_config(data, base_dir=Path("/"))


def test_secrets_from_env_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BCCRM_DB", "postgresql+psycopg://u:secret@db/bccrm")
    assert parse_config(
        {"database": {"url": {"env": "BCCRM_DB"}}}, base_dir=tmp_path
    ).database.url.endswith("@db/bccrm")
    (tmp_path / "cred").write_text("sqlite:////srv/bccrm.db\n")
    for given in (str(tmp_path / "cred"), "cred"):  # relative: next to the config file
        config = parse_config({"database": {"url": {"file": given}}}, base_dir=tmp_path)
        assert config.database.url == "sqlite:////srv/bccrm.db"


def test_relative_paths_resolve_against_the_config_file(tmp_path: Path) -> None:
    config = parse_config(
        {"spool": {"path": "q"}, "database": {"url": "sqlite:///d/x.db"}}, base_dir=tmp_path
    )
    assert config.spool.path == tmp_path / "q"
    assert config.database.url == f"sqlite:///{tmp_path}/d/x.db"


def test_invalid_config_exits_2_before_listening(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[gateway]\nport = "smtp"\n')
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "--config", str(path), "serve"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "gateway.port: expected int" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_config_file_exits_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "--config", str(tmp_path / "none.toml"), "doctor"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "cannot read" in result.stderr
