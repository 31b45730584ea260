"""Progress of a long command (rounds, points, DES steps) on stderr: a rich bar on a terminal,
plain lines elsewhere."""

from __future__ import annotations

import sys
import time
from typing import Any

__all__ = ["StepProgress"]


class StepProgress:
    """Progress of a run of ``total`` steps (rounds, points) on stderr; call it with
    ``(done, total)`` (a sweep adds the point's ``record``, whose failures are counted) after each
    one and :meth:`stop` it at the end. On a terminal it is a rich bar (``throttle``: redraw only
    every that fraction of the total, for DES runs that call it per step); elsewhere (a log file,
    CI) a plain line at the start, every ``every_s`` seconds and at the end."""

    def __init__(self, label: str, unit: str, *, throttle: float = 0.0, count_errors: bool = False,
                 every_s: float = 20.0) -> None:
        self._label, self._unit, self._throttle, self._count_errors = label, unit, throttle, count_errors
        self._lines = not sys.stderr.isatty()
        self._every_s = every_s
        self._bar: Any = None  # the rich bar, made at the first call, one per run (restart makes the next)
        self._task: Any = None
        self._started = False
        self._shown = self._first = 0
        self._t0 = self._last_line = 0.0
        self.errors = 0

    def _start(self, done: int, total: int) -> None:
        self._started, self._first, self._t0 = True, done, time.monotonic()
        if self._lines:
            self._line(done, total)
            return
        from rich.console import Console  # noqa: PLC0415
        from rich.progress import BarColumn, Progress, TimeElapsedColumn, TimeRemainingColumn  # noqa: PLC0415

        columns = [self._label, BarColumn(), f"{{task.completed}}/{{task.total}} {self._unit}"]
        columns += ["{task.fields[errors]} failed"] if self._count_errors else []
        self._bar = Progress(*columns, TimeElapsedColumn(), TimeRemainingColumn(), transient=True,
                             console=Console(stderr=True))
        self._task = self._bar.add_task(self._label, total=total, errors=0)
        self._bar.start()

    def _line(self, done: int, total: int) -> None:
        """done/total, failures, elapsed seconds and a linear estimate of those left."""
        self._last_line = time.monotonic()
        elapsed, ran = self._last_line - self._t0, done - self._first
        left = f", about {elapsed / ran * (total - done):.0f} s left" if ran > 0 and done < total else ""
        failed = f", {self.errors} failed" if self._count_errors else ""
        sys.stderr.write(f"{self._label}: {done}/{total} {self._unit}{failed}, {elapsed:.0f} s{left}\n")
        sys.stderr.flush()
        self._shown = done

    def __call__(self, done: int, total: int, record: dict[str, Any] | None = None) -> None:
        if record is not None and record.get("status") == "error":
            self.errors += 1
        if not self._started:
            self._start(done, total)
        elif self._lines:
            if (done >= total > self._shown) or time.monotonic() - self._last_line >= self._every_s:
                self._line(done, total)
        elif done - self._shown >= max(1, int(total * self._throttle)) or done >= total or record is not None:
            self._bar.update(self._task, completed=done, total=total, errors=self.errors)
            self._shown = done

    def restart(self, label: str) -> None:
        """Stop this run's progress; the next call starts afresh, labelled ``label``."""
        self.stop()
        self._label, self._bar, self._task, self._started, self._shown, self.errors = label, None, None, False, 0, 0

    def stop(self) -> None:
        """Take the bar off the terminal (the plain lines need no stopping)."""
        if self._bar is not None:
            self._bar.stop()
