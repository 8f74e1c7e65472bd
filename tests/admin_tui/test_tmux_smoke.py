"""``bccrm admin`` for real: started in tmux on a seeded database, driven with send-keys, read
back with capture-pane. Skipped, with the reason printed, when tmux is not installed."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.app import App
from gateway.config import Config
from gateway.crm import questions

TMUX = shutil.which("tmux")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(TMUX is None, reason="tmux is not installed (apt install tmux)"),
]
WIDTH, HEIGHT = 120, 36
PATIENCE = 30.0  # seconds for the UI to show what is expected on a slow CI machine


class Tmux:
    def __init__(self, socket: str) -> None:
        self.socket = socket

    def __call__(self, *args: str) -> str:
        assert TMUX is not None
        done = subprocess.run(
            [TMUX, "-L", self.socket, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        return done.stdout

    def pane(self) -> str:
        return self("capture-pane", "-p", "-t", "admin")

    def wait_for(self, *texts: str) -> str:
        deadline = time.monotonic() + PATIENCE
        shown = ""
        while time.monotonic() < deadline:
            shown = self.pane()
            if all(text in shown for text in texts):
                return shown
            time.sleep(0.2)
        raise AssertionError(f"{texts} never shown; the pane was:\n{shown}")

    def wait_gone(self, text: str) -> None:
        deadline = time.monotonic() + PATIENCE
        while time.monotonic() < deadline:
            if text not in self.pane():
                return
            time.sleep(0.2)
        raise AssertionError(f"{text!r} still shown:\n{self.pane()}")


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    server = Tmux(f"bccrm-test-{secrets.token_hex(4)}")
    yield server
    server("kill-server")


def seed(app: App) -> None:
    with app.sessions.begin() as session:
        fields = {"first_name": "Jan", "last_name": "Kowalski", "title": "CTO", "company": ""}
        questions.ask(
            session,
            "new_contact",
            questions.new_contact_key("jan@acme.pl"),
            {"email": "jan@acme.pl", "fields": fields},
        )


def test_bccrm_admin_renders_the_dashboard_and_the_review_queue(
    app: App, config: Config, tmux: Tmux, tmp_path: Path
) -> None:
    seed(app)
    assert config.source is not None
    command = [sys.executable, "-m", "gateway", "--config", str(config.source), "admin"]
    exit_file = tmp_path / "exit-status"
    env = {"TERM": "xterm-256color", "PATH": os.environ.get("PATH", ""), "HOME": str(Path.home())}
    tmux(
        "new-session",
        "-d",
        "-s",
        "admin",
        "-x",
        str(WIDTH),
        "-y",
        str(HEIGHT),
        *(f"-e{k}={v}" for k, v in env.items()),
        # The shell writes bccrm's exit status (128 + N when signal N killed it): tmux's own
        # #{pane_dead_status} is empty for a while after the pane dies, or for good.
        f"{' '.join(_quote(part) for part in command)}; echo $? > {_quote(str(exit_file))}",
    )
    tmux("set-option", "-t", "admin", "remain-on-exit", "on")
    shown = tmux.wait_for("Dashboard", "Review")
    assert "Traceback" not in shown
    tmux("send-keys", "-t", "admin", "r")
    shown = tmux.wait_for("Review queue", "new contact? Jan Kowalski <jan@acme.pl>")
    assert "1 open" in shown
    tmux("send-keys", "-t", "admin", "?")
    tmux.wait_for("Keys — Review queue", "a  Approve")
    tmux("send-keys", "-t", "admin", "Escape")
    tmux.wait_gone("Keys — Review queue")  # an ESC with q right behind it would read as alt+q
    tmux("send-keys", "-t", "admin", "q")
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline and not exit_file.exists():
        time.sleep(0.2)
    time.sleep(0.2)  # the shell's echo has finished writing
    status = exit_file.read_text().strip() if exit_file.exists() else "still running"
    assert status == "0", f"bccrm admin did not exit 0 on q ({status}):\n{tmux.pane()}"


def _quote(part: str) -> str:
    return "'" + part.replace("'", "'\\''") + "'"
