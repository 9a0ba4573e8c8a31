"""Stopping the local servers the dev stack and the tests start."""

from __future__ import annotations

import subprocess
from typing import Any


def stop_process(process: subprocess.Popen[Any] | None, timeout: float = 10.0) -> int | None:
    """SIGTERM, a grace period, then SIGKILL; returns the exit code (None if never started)."""
    if process is None:
        return None
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode
