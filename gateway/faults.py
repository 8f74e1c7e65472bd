"""Fault points for the reliability tests (tests/reliability).

``BCCRM_FAULT_POINTS`` (a comma-separated list, set only by the test harness) names the points
at which this process fails the way real systems do: a *kill* point SIGKILLs the process (a
power cut, the OOM killer), an *error* point makes an operation fail with the errno a sick
disk gives. ``name`` fires at every pass, ``name@N`` only at the N-th (1-based). Unset, a
point costs one dictionary lookup.

Kill points: ``spool-before-rename`` (edge: entry written and fsynced, not yet in ``new/``),
``after-claim``, ``before-commit`` (worker: the message's rows not yet flushed),
``inside-commit`` (rows flushed, COMMIT about to go to the database), ``after-commit`` (the
CRM has the email, the spool entry is not yet finished).
Error points: ``spool-fsync-eio`` (the spool's fsync fails with EIO), ``smtp-handler-error``
(the edge's RCPT handler raises, as a bug of ours would).
"""

from __future__ import annotations

import errno
import os
import signal
from collections import Counter
from typing import Any

ENV = "BCCRM_FAULT_POINTS"

_passes: Counter[str] = Counter()


def _fires(name: str) -> bool:
    points = os.environ.get(ENV)
    if not points:
        return False
    for point in points.split(","):
        wanted, _, nth = point.partition("@")
        if wanted == name:
            _passes[name] += 1
            return not nth or _passes[name] == int(nth)
    return False


def fault_point(name: str) -> None:
    """Die here, without cleanup, if the harness asked for it."""
    if _fires(name):
        os.kill(os.getpid(), signal.SIGKILL)


def error_point(name: str) -> None:
    """Raise an unexpected exception here (a bug of ours), if the harness asked for it."""
    if _fires(name):
        raise RuntimeError(f"fault point {name}")


def armed(name: str) -> bool:
    """Whether the harness named this point (without counting a pass)."""
    points = os.environ.get(ENV) or ""
    return any(p.partition("@")[0] == name for p in points.split(","))


def fsync(fd: int) -> None:
    """``os.fsync`` with the ``spool-fsync-eio`` error point in front of it."""
    if _fires("spool-fsync-eio"):
        raise OSError(errno.EIO, os.strerror(errno.EIO))
    os.fsync(fd)


def kill_inside_commit(session: Any) -> None:
    """Arm ``inside-commit`` on this session's connection: die when its COMMIT is issued,
    after every row has been sent to the database."""
    from sqlalchemy import event  # noqa: PLC0415 - only the harness pays for this

    connection = session.connection()
    event.listen(connection, "commit", lambda _conn: fault_point("inside-commit"), once=True)
