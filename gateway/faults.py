"""Fault points for the reliability tests.

``BCCRM_FAULT_POINTS`` (a comma-separated list, set only by the test harness) names the points
at which this process kills itself with SIGKILL, the way a power cut or the OOM killer would.
Unset, :func:`fault_point` costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

ENV = "BCCRM_FAULT_POINTS"


def fault_point(name: str) -> None:
    """Die here, without cleanup, if the harness asked for it."""
    points = os.environ.get(ENV)
    if points and name in points.split(","):
        os.kill(os.getpid(), signal.SIGKILL)
