"""Client-side pacing to a calls-per-window budget."""

import collections
import threading
import time


class Pacer:
    """Blocks callers so that at most ``max_calls`` start in any window.

    A sliding-window log: exact (never one call over the budget), thread
    safe, and O(max_calls) memory. ``Pacer(None)`` never blocks.

    Args:
        max_calls: calls allowed per window, or ``None`` for no limit
        window_seconds: the window length in seconds
        clock: a monotonic clock (for tests)
        sleep: the sleep function (for tests)
    """

    def __init__(self, max_calls=None, window_seconds=60.0, clock=time.monotonic, sleep=time.sleep):
        if max_calls is not None and max_calls < 1:
            raise ValueError("max_calls must be at least 1")
        if window_seconds <= 0:
            raise ValueError("window_seconds must be positive")
        self.max_calls = max_calls
        self.window_seconds = float(window_seconds)
        self._clock = clock
        self._sleep = sleep
        self._starts = collections.deque()
        self._lock = threading.Lock()

    def acquire(self):
        """Waits until one more call fits in the budget, and records it."""
        if self.max_calls is None:
            return
        while True:
            with self._lock:
                now = self._clock()
                while self._starts and now - self._starts[0] >= self.window_seconds:
                    self._starts.popleft()
                if len(self._starts) < self.max_calls:
                    self._starts.append(now)
                    return
                wait = self.window_seconds - (now - self._starts[0])
            self._sleep(max(wait, 0.001))

    def __repr__(self):
        return "Pacer(max_calls=%r, window_seconds=%r)" % (self.max_calls, self.window_seconds)
