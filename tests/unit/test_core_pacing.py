"""Pacer: a sliding-window calls-per-window budget."""

import threading
import time

import pytest

from fo_annotation_backends.core.pacing import Pacer


class FakeTime:
    """A clock that only moves when slept on (or advanced by the test)."""

    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds):
        self.now += seconds


def max_starts_in_any_window(starts, window):
    """The most starts in any half-open window ``[t, t + window)``."""
    starts = sorted(starts)
    return max(sum(1 for s in starts if t <= s < t + window) for t in starts)


def test_burst_is_spread_over_windows():
    fake = FakeTime()
    pacer = Pacer(max_calls=3, window_seconds=10.0, clock=fake.clock, sleep=fake.sleep)
    starts = []
    for _ in range(7):
        pacer.acquire()
        starts.append(fake.now)

    assert starts == [0.0, 0.0, 0.0, 10.0, 10.0, 10.0, 20.0]
    assert fake.sleeps == [10.0, 10.0]
    assert max_starts_in_any_window(starts, 10.0) == 3


def test_blocks_exactly_until_the_oldest_start_leaves_the_window():
    fake = FakeTime()
    pacer = Pacer(max_calls=3, window_seconds=10.0, clock=fake.clock, sleep=fake.sleep)
    for step in (0.0, 1.0, 1.0):  # starts at 0, 1, 2
        fake.advance(step)
        pacer.acquire()
    assert fake.sleeps == []

    fake.advance(1.0)  # t = 3: the start at 0 leaves the window at 10
    pacer.acquire()
    assert fake.sleeps == [pytest.approx(7.0)]
    assert fake.now == pytest.approx(10.0)

    pacer.acquire()  # the start at 1 leaves the window at 11
    assert fake.sleeps[1:] == [pytest.approx(1.0)]
    assert fake.now == pytest.approx(11.0)


def test_calls_spaced_wider_than_the_budget_never_sleep():
    fake = FakeTime()
    pacer = Pacer(max_calls=2, window_seconds=1.0, clock=fake.clock, sleep=fake.sleep)
    for _ in range(20):
        pacer.acquire()
        fake.advance(0.5)
    assert fake.sleeps == []


def test_never_more_than_max_calls_in_any_window_with_irregular_arrivals():
    fake = FakeTime()
    pacer = Pacer(max_calls=4, window_seconds=1.0, clock=fake.clock, sleep=fake.sleep)
    gaps = [0.0, 0.1, 0.05, 0.3, 0.0, 0.7, 0.0, 0.0, 0.2, 1.5, 0.0, 0.01, 0.02, 0.0, 0.9, 0.0] * 3
    starts = []
    for gap in gaps:
        fake.advance(gap)
        pacer.acquire()
        starts.append(fake.now)
    assert starts == sorted(starts)
    assert max_starts_in_any_window(starts, 1.0) == 4


def test_unlimited_pacer_never_sleeps():
    def forbidden_sleep(seconds):
        raise AssertionError("Pacer(None) slept")

    pacer = Pacer(None, clock=lambda: 0.0, sleep=forbidden_sleep)
    for _ in range(1000):
        pacer.acquire()


@pytest.mark.parametrize("kwargs", [{"max_calls": 0}, {"max_calls": 1, "window_seconds": 0}])
def test_invalid_budgets_are_rejected(kwargs):
    with pytest.raises(ValueError):
        Pacer(**kwargs)


def test_thread_safe_with_real_time():
    max_calls, window, n_calls = 5, 0.2, 20
    local = threading.local()

    def clock():
        # the value read last, under the pacer's lock, is the admitted start
        local.last = time.monotonic()
        return local.last

    pacer = Pacer(max_calls=max_calls, window_seconds=window, clock=clock)
    starts = []
    starts_lock = threading.Lock()
    barrier = threading.Barrier(n_calls)

    def worker():
        barrier.wait()
        pacer.acquire()
        with starts_lock:
            starts.append(local.last)

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(n_calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    elapsed = time.monotonic() - t0

    assert len(starts) == n_calls
    assert max_starts_in_any_window(starts, window) <= max_calls
    # 20 calls at 5 per 0.2 s: the last batch starts 3 windows after the first
    assert max(starts) - min(starts) >= 3 * window
    assert elapsed < 3 * window + 1.0  # and the pacer does not over-wait


def test_concurrent_callers_cannot_share_one_free_slot():
    """While one caller checks the budget, another cannot take the same slot."""
    a_in_clock, release_a = threading.Event(), threading.Event()
    now = [0.0]
    admitted = {}

    def clock():
        if threading.current_thread().name == "A" and not release_a.is_set():
            a_in_clock.set()
            release_a.wait(5)  # A is held in the middle of its check
        return now[0]

    def sleep(seconds):
        now[0] += seconds

    pacer = Pacer(max_calls=1, window_seconds=10.0, clock=clock, sleep=sleep)

    def call():
        pacer.acquire()
        admitted[threading.current_thread().name] = now[0]

    a = threading.Thread(target=call, name="A")
    a.start()
    assert a_in_clock.wait(5)
    b = threading.Thread(target=call, name="B")
    b.start()
    b.join(0.2)
    assert "B" not in admitted  # B waits for A's check to finish

    release_a.set()
    a.join(5)
    b.join(5)
    assert admitted == {"A": 0.0, "B": 10.0}


def test_slot_counts_a_call_in_flight_and_from_its_end():
    fake = FakeTime()
    pacer = Pacer(max_calls=2, window_seconds=10.0, clock=fake.clock, sleep=fake.sleep)
    ends = []
    for duration in (3.0, 0.0, 0.0):
        with pacer.slot():
            fake.advance(duration)
        ends.append(fake.now)
    # the first call ended at 3: the third may only start at 13, a full
    # window after it ended (counting from its start would allow 10)
    assert ends == [3.0, 3.0, 13.0]
    assert fake.sleeps == [pytest.approx(10.0)]


def test_slots_in_flight_hold_their_place():
    fake = FakeTime()
    pacer = Pacer(max_calls=2, window_seconds=10.0, clock=fake.clock, sleep=fake.sleep)
    first = pacer.slot()
    second = pacer.slot()
    first.__enter__()
    second.__enter__()
    waited = []

    def third():
        with pacer.slot():
            waited.append(fake.now)

    # the budget is held by two calls still running: the third waits for
    # one of them to end, and then a window after that end
    worker = threading.Thread(target=third)
    fake.sleep = lambda seconds: time.sleep(0.001) or FakeTime.advance(fake, seconds)
    pacer._sleep = fake.sleep
    worker.start()
    time.sleep(0.05)
    assert not waited
    first.__exit__(None, None, None)
    worker.join(5)
    second.__exit__(None, None, None)
    assert waited and waited[0] >= 10.0


def test_a_server_counting_arrivals_never_sees_more_than_the_budget():
    """Random latencies: with slot(), any window of ARRIVAL times holds at
    most max_calls calls (arrival lies between start and end)."""
    import random

    rng = random.Random(7)
    fake = FakeTime()
    pacer = Pacer(max_calls=5, window_seconds=1.0, clock=fake.clock, sleep=fake.sleep)
    arrivals = []
    for _ in range(60):
        with pacer.slot():
            latency = rng.uniform(0.0, 0.3)
            arrivals.append(fake.now + rng.uniform(0.0, latency))
            fake.advance(latency)
    assert max_starts_in_any_window(arrivals, 1.0) <= 5
