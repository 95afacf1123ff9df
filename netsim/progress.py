"""Progress of the long commands on stderr (stdout keeps their results): tqdm's bars on a
terminal; plain lines in a log file or a pipe, never a carriage return; stages of unknown
length with a heartbeat, so a user sees that a minutes-long step is alive. Wall-clock time
here paces the printing only; it never enters an event log."""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

PROGRESS_LINE_EVERY_S = 10.0  # off a terminal: at most one progress line per 10 s of wall time
HEARTBEAT_TTY_S = 1.0  # a long step's elapsed time, redrawn on a terminal every second
HEARTBEAT_LOG_S = 30.0  # off a terminal, a long step says it is still working every 30 s


class LineProgress:
    """Progress for a log file or a pipe: one plain line per step on stderr, never a
    carriage return (tqdm's redrawn frames fill a log with '\\r' garbage).

    The first and the last step are always printed, the others at most once per ``every_s``
    seconds of wall time (a long run's log stays short). Has the part of tqdm's interface
    the commands use: ``n``, ``total``, ``update``, ``set_postfix``, ``refresh``, ``close``.
    """

    def __init__(
        self, total: int | None, unit: str, desc: str, every_s: float = PROGRESS_LINE_EVERY_S
    ) -> None:
        self.total, self.unit, self.desc, self.every_s = total, unit, desc, every_s
        self.n = 0
        self.postfix = ""
        self._printed_n: int | None = None
        self._printed_at = -float("inf")
        self._started = time.monotonic()
        self.closed = False

    def update(self, n: int = 1) -> None:
        """``n`` more steps done."""
        self.n += n
        self.refresh()

    def set_postfix(self, **values: object) -> None:
        """Values shown after the count (``key=value``), from the next line on."""
        self.postfix = ", ".join(f"{key}={value}" for key, value in values.items())

    def refresh(self, force: bool = False) -> None:
        """Print the current count if it is the first, the last, or ``every_s`` is up."""
        if self.closed or self.n == self._printed_n:
            return
        now = time.monotonic()  # paces the printing only
        last = self.total is not None and self.n >= self.total
        if force or last or self._printed_n is None or now - self._printed_at >= self.every_s:
            of = f"/{self.total}" if self.total is not None else ""
            more = f" ({self.postfix})" if self.postfix else ""
            print(f"{self.desc}: {self.n}{of} {self.unit}s{more}", file=sys.stderr, flush=True)
            self._printed_n, self._printed_at = self.n, now

    def close(self) -> None:
        """Print the count reached if it was not printed yet; no output after."""
        if not self.closed and self._printed_n is not None:
            self.refresh(force=True)
        self.closed = True

    def heartbeat(self, _elapsed_s: float = 0.0) -> None:
        """Say that the current step still runs (a :class:`Heartbeat`'s beat)."""
        if not self.closed:
            of = f"/{self.total}" if self.total is not None else ""
            elapsed = time.monotonic() - self._started
            print(
                f"{self.desc}: {self.n}{of} {self.unit}s, still working ({elapsed:.0f} s)",
                file=sys.stderr,
                flush=True,
            )


class Heartbeat:
    """While one long step runs (the attack on one upload, a report's figures: minutes),
    call ``beat(elapsed_s)`` every ``every_s`` seconds of wall time from a daemon thread, so
    the user sees the command is alive. A context manager: the thread stops on exit."""

    def __init__(self, beat: Callable[[float], None], every_s: float) -> None:
        self.beat, self.every_s = beat, every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="netsim-heartbeat", daemon=True)

    def _loop(self) -> None:
        began = time.monotonic()
        while not self._stop.wait(self.every_s):
            self.beat(time.monotonic() - began)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def keep_alive(bar: Any) -> Heartbeat:
    """A heartbeat for ``bar`` (from :func:`progress`): tqdm redraws its elapsed time on a
    terminal; off one, :meth:`LineProgress.heartbeat` prints a line now and then."""
    if isinstance(bar, LineProgress):
        return Heartbeat(bar.heartbeat, HEARTBEAT_LOG_S)
    return Heartbeat(lambda _elapsed_s: bar.refresh(), HEARTBEAT_TTY_S)


@contextlib.contextmanager
def working(text: str) -> Iterator[None]:
    """A stage of unknown length: ``text`` on stderr, then its elapsed time (a terminal:
    redrawn every second; elsewhere: a line every 30 s) until the block ends."""
    if sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(desc=f"netsim: {text}", bar_format="{desc} ({elapsed})", file=sys.stderr)
        with Heartbeat(lambda _elapsed_s: bar.refresh(), HEARTBEAT_TTY_S):
            try:
                yield
            finally:
                bar.close()
        return
    stage(text)

    def still(elapsed_s: float) -> None:
        stage(f"{text}: still working ({elapsed_s:.0f} s)")

    with Heartbeat(still, HEARTBEAT_LOG_S):
        yield


def progress(total: int | None, unit: str, desc: str, quiet: bool = False) -> Any:
    """A progress bar on stderr: tqdm's on a terminal, :class:`LineProgress` elsewhere (a
    log file or a pipe), nothing with ``quiet``."""
    from tqdm import tqdm

    if quiet or sys.stderr.isatty():
        return tqdm(total=total, unit=unit, desc=desc, file=sys.stderr, disable=quiet)
    return LineProgress(total, unit, desc)


def stage(text: str) -> None:
    """A stage of a long command, one line on stderr (stdout keeps the results)."""
    print(f"netsim: {text}", file=sys.stderr, flush=True)
