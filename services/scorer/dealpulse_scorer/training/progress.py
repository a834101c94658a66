"""Progress of long offline steps (reading data, building features, fitting) on stderr.

One line per finished step with its duration. On a terminal, a step that counts (rows read, trees fitted)
also redraws its line in place while it runs; in a log (not a TTY) only the finished line is written, so
logs stay readable. Each step's duration is kept in ``timings`` for the model manifest and the benchmark.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

Tick = Callable[[int], None]  # advance the running step by n units
REDRAW_SECONDS = 0.2


class Progress:
    def __init__(self, prefix: str, stream: TextIO | None = None, *, enabled: bool = True) -> None:
        self.prefix = prefix
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.timings: dict[str, float] = {}
        self._live = enabled and bool(getattr(self.stream, "isatty", lambda: False)())

    @classmethod
    def silent(cls) -> Progress:
        return cls("", enabled=False)

    def _write(self, text: str, *, final: bool) -> None:
        if not self.enabled:
            return
        if self._live:
            self.stream.write(f"\r\x1b[2K{self.prefix}: {text}" + ("\n" if final else ""))
        elif final:
            self.stream.write(f"{self.prefix}: {text}\n")
        self.stream.flush()

    def note(self, text: str) -> None:
        self._write(text, final=True)

    @contextmanager
    def step(self, label: str, total: int | None = None, unit: str = "", *, key: str | None = None) -> Iterator[Tick]:
        """Time a step (kept in ``timings`` under ``key``, default the label); the yielded ``tick(n)`` advances
        its counter (redrawn at most every 0.2 s)."""
        started = last_draw = time.perf_counter()
        done = 0
        unit_text = f" {unit}" if unit else ""

        def tick(n: int = 1) -> None:
            nonlocal done, last_draw
            done += n
            now = time.perf_counter()
            if self._live and now - last_draw >= REDRAW_SECONDS:
                last_draw = now
                share = f" ({done / total:.0%})" if total else ""
                count = f"{done:,}/{total:,}" if total else f"{done:,}"
                self._write(f"{label}… {count}{unit_text}{share}  {now - started:.1f} s", final=False)

        self._write(f"{label}…", final=False)
        yield tick
        seconds = time.perf_counter() - started
        self.timings[key or label] = round(seconds, 2)
        count = f" {done:,}{unit_text}" if done and unit else ""
        self._write(f"{label}:{count} done in {seconds:.1f} s", final=True)
