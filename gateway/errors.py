"""How failures are described to operators (invariant I-4 of ../shared/RELIABILITY.md).

Log lines at INFO and above, quarantine reasons and replies say *what kind* of thing failed in
a fixed phrase: never the exception's class, its text (which may quote mail, SQL or paths) or
a traceback. Those go to DEBUG, where an admin chasing a bug turns them on
(``[diagnostics] log_level = "DEBUG"``).
"""

from __future__ import annotations

import errno
import logging

from sqlalchemy.exc import OperationalError, SQLAlchemyError

# The first class that matches wins: subclasses before their bases.
_PHRASES: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], str], ...] = (
    (OperationalError, "database unavailable"),
    (SQLAlchemyError, "database error"),
    (TimeoutError, "timed out"),
    (ConnectionError, "connection failed"),
    ((RecursionError, MemoryError), "message too complex"),
    (UnicodeError, "undecodable text"),
)
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def describe(exc: BaseException) -> str:
    """A fixed phrase for ``exc``: "database unavailable", "disk full", "internal error"…"""
    for kinds, phrase in _PHRASES:
        if isinstance(exc, kinds):
            return phrase
    if isinstance(exc, OSError):
        return "disk full" if exc.errno in _DISK_FULL else "I/O error"
    return "internal error"


def log_failure(logger: logging.Logger, level: int, message: str, exc: BaseException) -> None:
    """``message`` with ``describe(exc)`` at ``level``; the class and traceback at DEBUG."""
    logger.log(level, "%s (%s)", message, describe(exc))
    logger.debug("%s: %s", message, type(exc).__name__, exc_info=exc)
