"""What reaches bccrm's log: its own records, formatted; not the libraries' noise."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import logging
from gateway.config import DiagnosticsConfig
from gateway.logconf import configure_logging

configure_logging(DiagnosticsConfig())
logging.getLogger("psycopg").warning("error ignored terminating %r: %s", object(), "lost")
logging.getLogger("mail.log").info("('127.0.0.1', 1) >> b'MAIL FROM:<anna@example.com>'")
logging.getLogger("bccrm.worker").warning("database unavailable")
"""


def test_psycopg_warnings_and_smtp_command_lines_stay_out_of_the_log() -> None:
    """psycopg's warning after a connection lost mid-pipeline names its objects (I-4 in
    tests/reliability); aiosmtpd's INFO lines carry addresses."""
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True
    )
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].endswith("WARNING bccrm.worker: database unavailable")
