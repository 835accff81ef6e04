"""Progress on stderr for the ``leakdb`` tool's long operations: shown only to a person watching.

Nothing is drawn unless stderr is a terminal, the operation is big, and stdout is not that terminal too
(the progress line would tangle with the output).  Redraws are throttled to a few per second.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

MIN_ITEMS = 10_000  # smaller operations finish before a progress line would be readable
REDRAW_SECONDS = 0.1


class Progress:
    """Counts items done out of `total` and redraws one status line on `stream`."""

    def __init__(self, label: str, total: int, stream: TextIO | None = None, output_is_tty: bool = False):
        self.label = label
        self.total = total
        self.done = 0
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = total >= MIN_ITEMS and not output_is_tty and _isatty(self.stream)
        self._next_draw = 0.0

    def advance(self, count: int = 1) -> None:
        self.done += count
        if self.enabled and time.monotonic() >= self._next_draw:
            self._draw()

    def _draw(self) -> None:
        percent = 100 * self.done // max(self.total, 1)
        self.stream.write(f"\r{self.label}: {self.done}/{self.total} keys ({percent}%)")
        self.stream.flush()
        self._next_draw = time.monotonic() + REDRAW_SECONDS

    def finish(self) -> None:
        """Erase the status line, leaving the terminal as it was."""
        if self.enabled:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.enabled = False


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
