"""``bccrm mailgate``: the MTA pipe entry point, with the exit codes MTAs act on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway.app import App
from gateway.cli import main
from gateway.config import Config
from gateway.services.export import export_all
from tests.support import LOG, add_user, drain, make_message


def mailgate(
    config: Config, data: bytes, *args: str, config_path: Path | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway",
            "--config",
            str(config_path or config.source),
            "mailgate",
            *args,
        ],
        input=data,
        capture_output=True,
        timeout=60,
        check=False,
    )


def lf(message: bytes) -> bytes:
    """What a pipe delivers: LF line endings."""
    return message.replace(b"\r\n", b"\n")


def test_piped_message_is_spooled_as_crlf_and_logged(app: App) -> None:
    add_user(app, "anna@example.com")
    message = make_message()
    result = mailgate(app.config, lf(message), "--rcpt", LOG, "--sender", "anna@example.com")
    assert result.returncode == 0, result.stderr
    [entry] = app.spool.new.iterdir()
    envelope, raw = app.spool.peek(entry)
    assert raw == message
    assert (envelope.transport, envelope.mail_from) == ("pipe", "anna@example.com")
    assert drain(app)["logged"] == 1
    [email] = export_all(app.sessions)["emails"]
    assert email["auth"]["proofs"] == ["pipe"]


def test_not_a_gateway_address_is_67(app: App) -> None:
    result = mailgate(app.config, lf(make_message()), "--rcpt", "jan@acme.pl")
    assert result.returncode == 67
    assert b"not a gateway address" in result.stderr
    assert list(app.spool.new.iterdir()) == []


BIG_HEADERS = b"Subject: x\n" + b"".join(b"X-Pad: " + b"p" * 900 + b"\n" for _ in range(200))


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (lf(make_message(body=("x" * 70 + "\n") * 200_000)), "message size exceeds fixed limit"),
        (BIG_HEADERS + b"\nbody\n", "message structure exceeds limits"),
    ],
    ids=["size", "header block"],
)
def test_oversized_or_hostile_structure_is_65(app: App, data: bytes, why: str) -> None:
    result = mailgate(app.config, data)
    assert result.returncode == 65
    assert why.encode() in result.stderr
    assert list(app.spool.new.iterdir()) == list(app.spool.tmp.iterdir()) == []


def test_spool_failure_is_75_and_the_mta_keeps_the_mail(app: App, tmp_path: Path) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the spool should be")
    config_path = tmp_path / "bad-spool.toml"
    config_path.write_text(
        Path(str(app.config.source))
        .read_text()
        .replace('path = "spool"', f'path = "{blocked}/spool"')
    )
    result = mailgate(app.config, lf(make_message()), config_path=config_path)
    assert result.returncode == 75
    assert b"try again later" in result.stderr


def test_broken_config_is_75_not_a_bounce(app: App, tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[gateway]\nport = 'x'\n")
    result = mailgate(app.config, lf(make_message()), config_path=broken)
    assert result.returncode == 75
    assert b"gateway.port" in result.stderr


def test_an_unexpected_failure_is_75(
    app: App, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bug of ours must not bounce mail: the MTA is told to retry."""

    def broken(*args: object) -> tuple[int, str]:
        raise RuntimeError("a bug")

    monkeypatch.setattr("gateway.cli.run.deliver", broken)
    assert main(["--config", str(app.config.source), "mailgate"]) == 75
