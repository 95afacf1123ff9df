"""Process helpers for tests of the CLI's subprocesses (Linux /proc): who a process's
children are, whether one ignores SIGINT, and waiting on a condition without a time limit
of its own (only a hang guard that keeps a broken build from waiting forever)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

HANG_GUARD_S = 15 * 60  # not a speed claim: only so that a broken build cannot hang forever


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state, ppid, ...); None if gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def alive(pid: int) -> bool:
    """The process exists and is not a zombie (exited, not yet reaped)."""
    fields = _stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def descendants(pid: int) -> dict[int, int]:
    """{pid: parent pid} of every living process below ``pid``."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None and fields[0] not in ("Z", "X"):
                parents[int(entry.name)] = int(fields[1])
    found: dict[int, int] = {}
    frontier = {pid}
    while frontier:
        below = {p: pp for p, pp in parents.items() if pp in frontier and p not in found}
        found.update(below)
        frontier = set(below)
    return found


def cmdline(pid: int) -> str:
    """The process's command line, arguments joined by spaces ('' if gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def ignores_sigint(pid: int) -> bool:
    """SIGINT is in the process's ignored signals (SigIgn of /proc/PID/status)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    for line in status.splitlines():
        if line.startswith("SigIgn:"):
            return bool(int(line.split()[1], 16) >> (signal.SIGINT - 1) & 1)
    return False


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll ``condition`` until it holds; fail after :data:`HANG_GUARD_S` (a hang)."""
    guard = time.monotonic() + HANG_GUARD_S
    while not condition():
        assert time.monotonic() < guard, f"hung: waited {HANG_GUARD_S} s for {what}"
        time.sleep(0.2)


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def terminal_process(argv: list[str]) -> subprocess.Popen[str]:
    """``argv`` started as a terminal starts a foreground command: in a process group of its
    own (a Ctrl-C reaches the whole group: :func:`interrupt_group`), stderr captured, and
    SIGINT at its default action. A shell without job control (a CI script, ``cmd &``)
    starts its background commands with SIGINT ignored, which every process inherits:
    without the reset, the command under test would ignore the test's Ctrl-C and finish."""
    return subprocess.Popen(
        argv, stderr=subprocess.PIPE, text=True, start_new_session=True,
        preexec_fn=_default_sigint,
    )  # fmt: skip


def interrupt_group(process: subprocess.Popen[str], workers: list[int]) -> str:
    """Ctrl-C as a terminal sends it (SIGINT to ``process``'s whole group, started with
    ``start_new_session``), wait for it and for ``workers`` to end; its stderr. Asserts
    that it stopped as interrupted (status 130) without a traceback from any process."""
    try:
        os.killpg(process.pid, signal.SIGINT)
        _, err = process.communicate()
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    wait_until(lambda: not any(alive(w) for w in workers), "the stopped workers to end")
    return err
