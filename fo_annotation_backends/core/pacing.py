"""Client-side pacing to a calls-per-window budget."""

from __future__ import annotations

import contextlib
import heapq
import threading
import time
from collections.abc import Callable, Iterator


class Pacer:
    """Blocks callers so that at most ``max_calls`` calls fall in any window.

    A sliding-window log: exact, thread safe, O(max_calls) memory.
    ``Pacer(None)`` never blocks. Two ways to count a call:

    - :meth:`acquire` counts it from when it starts;
    - :meth:`slot` counts it while it is in flight and then from when it
      ends. A server that counts calls when they arrive then never sees more
      than ``max_calls`` in any window, whatever the network latency, since a
      call arrives after it starts and before it ends. (Counting from the
      start would let a slow first call and a fast later one arrive less than
      a window apart.)

    Args:
        max_calls: calls allowed per window, or ``None`` for no limit
        window_seconds: the window length in seconds
        clock: a monotonic clock (for tests)
        sleep: the sleep function (for tests)
    """

    def __init__(
        self,
        max_calls: int | None = None,
        window_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        if max_calls is not None and max_calls < 1:
            raise ValueError("max_calls must be at least 1")
        if window_seconds <= 0:
            raise ValueError("window_seconds must be positive")
        self.max_calls = max_calls
        self.window_seconds = float(window_seconds)
        self._clock = clock
        self._sleep = sleep
        self._times: list[float] = []  # a min-heap of the counted calls' times
        self._in_flight = 0
        self._lock = threading.Lock()

    def acquire(self) -> None:
        """Waits until one more call fits in the budget, and counts it from
        now."""
        if self.max_calls is None:
            return
        self._wait_for_room(in_flight=False)

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """A context for one call: waits for room, then counts the call while
        it runs and from the moment it ends."""
        if self.max_calls is None:
            yield
            return
        self._wait_for_room(in_flight=True)
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1
                heapq.heappush(self._times, self._clock())

    def _wait_for_room(self, in_flight: bool) -> None:
        max_calls = self.max_calls
        assert max_calls is not None  # acquire() and slot() never wait without a budget
        while True:
            with self._lock:
                now = self._clock()
                while self._times and now - self._times[0] >= self.window_seconds:
                    heapq.heappop(self._times)
                if len(self._times) + self._in_flight < max_calls:
                    if in_flight:
                        self._in_flight += 1
                    else:
                        heapq.heappush(self._times, now)
                    return
                if self._times:
                    wait = self.window_seconds - (now - self._times[0])
                else:  # every counted call is still in flight
                    wait = 0.01
            self._sleep(max(min(wait, self.window_seconds), 0.001))

    def __repr__(self) -> str:
        return "Pacer(max_calls=%r, window_seconds=%r)" % (self.max_calls, self.window_seconds)
