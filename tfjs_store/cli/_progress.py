"""A one-line progress display for long transfers, on a terminal only.

The bar advances by phase (reading the source, writing the destination) and, within a
phase, by what the handler reports: a fraction (``on_progress``, as TF.js's handlers
and tfjs-store's http handler call it) or bytes (``advance``). While a phase reports
nothing, a marker sweeps the phase's part of the bar, so a long read still shows life.
"""

from __future__ import annotations

import os
import threading
import time
from typing import TextIO

from ._common import human_bytes

PROGRESS_MIN_BYTES = 4 * 1024 * 1024
"""Transfers smaller than this show no bar (they are over before it would help)."""

_WIDTH = 24
_INTERVAL = 0.1


def should_show(stream: TextIO, total_bytes: int | None, disabled: bool) -> bool:
    if disabled or total_bytes is None or total_bytes < PROGRESS_MIN_BYTES:
        return False
    if os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Progress:
    """``with Progress(stderr, total, "cp", phases=[...]) as p: p.phase("reading") …``.

    Writes nothing unless ``enabled``. The line is erased when the transfer ends, so
    the command's own result line follows on a clean terminal.
    """

    def __init__(
        self,
        stream: TextIO,
        total_bytes: int,
        label: str,
        phases: list[str],
        *,
        enabled: bool,
    ) -> None:
        self.stream = stream
        self.total = max(1, total_bytes)
        self.label = label
        self.phases = phases
        self.enabled = enabled
        self._phase = 0
        self._phase_bytes = 0
        self._fraction: float | None = None
        self._lock = threading.Lock()
        self._draw_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start = time.monotonic()
        self._last_width = 0

    def __enter__(self) -> Progress:
        if self.enabled:
            self._draw()
            self._thread = threading.Thread(
                target=self._run, name="tfjs-store-progress", daemon=True
            )
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.enabled:
            with self._draw_lock:
                self._write("\r" + " " * self._last_width + "\r")

    def phase(self, name: str) -> None:
        with self._lock:
            if name in self.phases:
                self._phase = self.phases.index(name)
            self._phase_bytes = 0
            self._fraction = None
        if self.enabled:
            self._draw()  # a phase change shows at once, however fast the transfer

    @property
    def current(self) -> int:
        """The index of the current phase."""
        return self._phase

    def advance(self, nbytes: int) -> None:
        with self._lock:
            self._phase_bytes += nbytes

    def on_progress(self, fraction: float) -> None:
        """TF.js's ``onProgress``: how much of the current phase is done, 0 to 1."""
        with self._lock:
            self._fraction = max(0.0, min(1.0, float(fraction)))

    def render(self, now: float | None = None) -> str:
        """The current line (also used by tests)."""
        elapsed = (time.monotonic() if now is None else now) - self._start
        with self._lock:
            index, done, fraction = self._phase, self._phase_bytes, self._fraction
        count = max(1, len(self.phases))
        span = _WIDTH / count
        start = index * span
        if fraction is None and done:
            fraction = min(1.0, done / self.total)
        if fraction is not None:
            fill = start + span * fraction
            bar = "#" * int(fill) + "-" * (_WIDTH - int(fill))
        else:  # no byte count yet: sweep a marker through this phase's part
            bar_list = ["#"] * int(start) + ["-"] * (_WIDTH - int(start))
            sweep = int(start + (elapsed / _INTERVAL) % max(1, int(span)))
            bar_list[min(_WIDTH - 1, sweep)] = ">"
            bar = "".join(bar_list)
        name = self.phases[index] if self.phases else ""
        return f"{self.label}: {name} {human_bytes(self.total)} [{bar}] {elapsed:5.1f}s"

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            self.enabled = False

    def _draw(self) -> None:
        with self._draw_lock:
            line = self.render()
            pad = max(0, self._last_width - len(line))
            self._last_width = len(line)
            self._write("\r" + line + " " * pad)

    def _run(self) -> None:
        while not self._stop.wait(_INTERVAL):
            self._draw()
