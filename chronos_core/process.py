"""Whether a process on this host is still running (psutil; a zombie counts as gone)."""

from __future__ import annotations

import psutil


def process_alive(pid: int) -> bool:
    """True while ``pid`` runs on this host; False for no such process or a zombie."""
    if pid <= 0:
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True
