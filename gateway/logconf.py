"""Process logging: text for terminals, one JSON object per line for journald."""

from __future__ import annotations

import json
import logging
import sys

from gateway.config import DiagnosticsConfig


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


def configure_logging(config: DiagnosticsConfig) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if config.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("bccrm")
    root.handlers[:] = [handler]
    root.setLevel(config.log_level)
    root.propagate = False
    # aiosmtpd logs every command line at INFO, addresses included.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    # psycopg warns "error ignored terminating <psycopg.Pipeline [BAD] at 0x…>" when the
    # connection is lost in the middle of a batch's multi-row INSERT: raw, through Python's
    # last-resort handler. bccrm reports the outage itself (the database is unavailable).
    logging.getLogger("psycopg").setLevel(logging.ERROR)
