"""Admission control for generations: the engine decodes any number at once, the apps bound them."""

from __future__ import annotations

import threading


class BusyError(RuntimeError):
    """Every generation slot is taken and the waiting line is full."""


class GenerationSlots:
    """Admission control: at most ``max_active`` generations run, ``max_waiting`` more may queue.

    A request beyond that gets BusyError at once (a 429 at the API) instead of piling up.
    """

    def __init__(self, max_active: int = 4, max_waiting: int = 16) -> None:
        self.max_active = max_active
        self.max_waiting = max_waiting
        self._semaphore = threading.Semaphore(max_active)
        self._lock = threading.Lock()
        self.active = 0
        self.waiting = 0

    def acquire(self, cancel: threading.Event | None = None) -> bool:
        """Take a slot, waiting in line if need be; False (no slot taken) if ``cancel`` is set while
        waiting, so a request whose client has gone leaves the line at once."""
        with self._lock:
            if self.waiting >= self.max_waiting and self.active >= self.max_active:
                raise BusyError(
                    f"all {self.max_active} generation slots are busy and {self.waiting} requests wait"
                )
            self.waiting += 1
        acquired = False
        try:
            while not (acquired := self._semaphore.acquire(timeout=0.05)):
                if cancel is not None and cancel.is_set():
                    return False
            return True
        finally:
            with self._lock:
                self.waiting -= 1
                self.active += acquired

    def release(self) -> None:
        with self._lock:
            self.active -= 1
        self._semaphore.release()
