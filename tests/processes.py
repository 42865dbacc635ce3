"""Process state for the tests that start processes: whether one still runs."""

from __future__ import annotations

from pathlib import Path


def running(pid: int) -> bool:
    """Whether the process runs: one that exited but is not yet reaped (a zombie, which `os.kill(pid, 0)`
    still finds; an orphan no one reaps stays one) does not."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")
