"""Measurement inside a worker subprocess (a FiftyOne backend's round, or an
official SDK's baseline).

Standard library only at module level: the SDK baselines import this module
from the SDKs' own virtual environments (no FiftyOne, maybe no psutil).

:class:`Meter` runs a phase and records its wall time; every HTTP request
sent through ``requests.Session.send`` (and ``httpx.Client.send`` when
installed), by endpoint, with its start, end and status; the peak RSS
(sampled every 20 ms); the client's and the server's CPU; and the emulator's
own counts (``/_emulator/stats``) around it. :class:`Breakdown` adds the wall
time of named functions per phase. :func:`pause_for_parent` hands control to
the parent between two phases; :func:`worker_main` is a worker's ``main``.
"""

from __future__ import annotations

import collections
import json
import os
import re
import sys
import threading
import time
import traceback
from typing import Any, Callable

MB = 1024 * 1024
PAUSE_PREFIX = "@@bench-pause "
_ID_SEGMENT = re.compile(r"/(?:[0-9a-fA-F]{8}-[0-9a-fA-F-]{27,}|\d+)(?=/|$)")


def path_key(url: str, rules: list | tuple = ()) -> str:
    """The endpoint a request URL is counted under: no scheme, host or query;
    numeric and UUID path segments as ``{id}``; then each ``(pattern,
    replacement)`` of ``rules`` (e.g. signed storage URLs by kind)."""
    path = _ID_SEGMENT.sub("/{id}", re.sub(r"\?.*$", "", re.sub(r"^https?://[^/]+", "", url or "")))
    for pattern, replacement in rules:
        path = re.sub(pattern, replacement, path)
    return path


def _rss_reader() -> Callable[[], int]:
    """This process's RSS in bytes (psutil, else ``/proc/self/statm``)."""
    try:
        import psutil

        process = psutil.Process()
        return lambda: process.memory_info().rss
    except ImportError:
        page = os.sysconf("SC_PAGE_SIZE")

        def read() -> int:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * page

        return read


class RssSampler(threading.Thread):
    """Samples this process's RSS every ``interval`` s; ``peak`` is the
    largest value since the last :meth:`reset`."""

    def __init__(self, interval: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.rss = _rss_reader()
        self.interval = interval
        self._lock = threading.Lock()
        self._stop_event = threading.Event()
        self.peak = self.rss()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.sample()
            self._stop_event.wait(self.interval)

    def sample(self) -> int:
        """Takes one sample now."""
        value = self.rss()
        with self._lock:
            self.peak = max(self.peak, value)
        return value

    def reset(self) -> int:
        """Starts a new peak from the current RSS, which it returns."""
        value = self.rss()
        with self._lock:
            self.peak = value
        return value

    def stop(self) -> None:
        """Ends the sampling thread."""
        self._stop_event.set()


def process_cpu_seconds(pid: int | None = None) -> float | None:
    """User + system CPU seconds of a process (this one by default), from
    ``/proc``; None when unreadable."""
    try:
        with open("/proc/%s/stat" % (pid or "self")) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / float(os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None


def max_rss_mb() -> float:
    """This process's peak RSS over its life, MB."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


class EmulatorControl:
    """The control endpoints of one of our emulators (``/_emulator/...``),
    called outside the measured requests."""

    def __init__(self, client_url: str, api_key: str) -> None:
        import requests

        self.base = re.sub(r"^(https?://[^/]+).*$", r"\1", client_url)
        self.session = requests.Session()
        self.session.headers["Authorization"] = "X-API-Key: %s" % api_key

    def _call(self, method: str, name: str, **kwargs: Any) -> dict:
        response = self.session.request(method, "%s/_emulator/%s" % (self.base, name), timeout=60, **kwargs)
        response.raise_for_status()
        return response.json()

    def stats(self) -> dict:
        """Requests per operation, statuses, ``over_limit``, ``peak_calls_in_window``."""
        return self._call("GET", "stats")

    def reset_stats(self) -> dict:
        """Zeroes the counts and the budget's window."""
        return self._call("POST", "reset_stats")

    def set_knobs(self, **knobs: Any) -> dict:
        """Sets fault and budget knobs (``max_calls``, ``window_seconds``, ...)."""
        return self._call("POST", "faults", json=knobs)


def stats_delta(before: dict, after: dict) -> dict:
    """What an emulator counted between two ``stats()`` snapshots; the peak
    in a window is the one since the last reset (a maximum has no delta)."""
    out = dict(after)
    for key in ("requests", "over_limit"):
        out[key] = after.get(key, 0) - before.get(key, 0)
    for key in ("operations", "statuses", "faults"):
        got = {k: v - (before.get(key) or {}).get(k, 0) for k, v in (after.get(key) or {}).items()}
        out[key] = {k: v for k, v in got.items() if v}
    return out


class Meter:
    """Runs the phases of one worker and records their figures in ``out``:
    ``phases`` (seconds, requests by endpoint, bytes sent, RSS at the start,
    peak and growth), ``cpu`` (client and server), ``server`` (the emulator's
    counts during the phase) and ``timeline`` (every request's start and end,
    from the phase start, status and endpoint).

    ``spec`` keys: ``path_rules`` (see :func:`path_key`), ``url`` and
    ``api_key`` with ``control`` (read the emulator's stats around each
    phase), ``reset_stats_per_phase`` (zero them before each phase instead
    of taking a difference), ``server_pid`` (for the server's CPU).
    """

    def __init__(self, spec: dict, out: dict) -> None:
        self.rules = spec.get("path_rules") or ()
        self.control = EmulatorControl(spec["url"], spec["api_key"]) if spec.get("control") else None
        self.reset_per_phase = bool(spec.get("reset_stats_per_phase"))
        self.server_pid = spec.get("server_pid")
        self.phase: str | None = None
        self.t0 = 0.0
        self._lock = threading.Lock()
        self._counts: dict = collections.defaultdict(collections.Counter)
        self._bytes: collections.Counter = collections.Counter()
        for key in ("phases", "server", "cpu", "timeline"):
            out.setdefault(key, {})
        self.out = out
        self.sampler = RssSampler()
        self.sampler.start()
        self._install()

    def _record(self, lib: str, method: str, url: str, length: Any, send: Callable[[], Any]) -> Any:
        phase = self.phase
        if phase is None:
            return send()
        key = "%s %s" % (method, path_key(url, self.rules))
        start = time.perf_counter()
        status = None
        try:
            response = send()
            status = response.status_code
            return response
        finally:
            end = time.perf_counter()
            with self._lock:
                self._counts[phase]["%s %s" % (lib, key)] += 1
                try:
                    self._bytes[phase] += int(length or 0)
                except ValueError:
                    pass
                self.out["timeline"].setdefault(phase, []).append([start - self.t0, end - self.t0, status, key])

    def _install(self) -> None:
        import requests

        meter = self
        original = requests.Session.send

        def requests_send(session: Any, request: Any, **kwargs: Any) -> Any:
            length = request.headers.get("Content-Length")
            return meter._record(
                "requests", request.method, request.url, length, lambda: original(session, request, **kwargs)
            )

        requests.Session.send = requests_send
        try:
            import httpx
        except ImportError:  # e.g. an SDK's environment
            return
        original_httpx = httpx.Client.send

        def httpx_send(client: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
            length = request.headers.get("Content-Length")
            return meter._record(
                "httpx",
                request.method,
                str(request.url),
                length,
                lambda: original_httpx(client, request, *args, **kwargs),
            )

        httpx.Client.send = httpx_send

    def measure(self, phase: str, func: Callable[[], Any], profile_path: str | None = None) -> Any:
        """Runs ``func`` as ``phase`` (under cProfile into ``profile_path.*``
        when given) and returns its value."""
        before: dict = {}
        if self.control is not None and self.reset_per_phase:
            self.control.reset_stats()
        elif self.control is not None:
            before = self.control.stats()
        cpu = process_cpu_seconds(), process_cpu_seconds(self.server_pid) if self.server_pid else None
        start_rss = self.sampler.reset()
        profiler = None
        if profile_path:
            import cProfile

            profiler = cProfile.Profile()
        self.t0 = time.perf_counter()
        self.phase = phase
        try:
            return profiler.runcall(func) if profiler else func()
        finally:
            seconds = time.perf_counter() - self.t0
            self.phase = None
            self.sampler.sample()
            peak = self.sampler.peak
            self.out["phases"][phase] = {
                "seconds": seconds,
                "requests": sum(self._counts[phase].values()),
                "requests_by_endpoint": dict(self._counts[phase].most_common()),
                "bytes_sent": self._bytes[phase],
                "rss_start_mb": start_rss / MB,
                "rss_peak_mb": peak / MB,
                "rss_growth_mb": (peak - start_rss) / MB,
            }
            after = process_cpu_seconds(), process_cpu_seconds(self.server_pid) if self.server_pid else None
            self.out["cpu"][phase] = {
                who: None if a is None or b is None else b - a
                for who, a, b in (("client", cpu[0], after[0]), ("server", cpu[1], after[1]))
            }
            if self.control is not None:
                self.out["server"][phase] = stats_delta(before, self.control.stats())
            self.out["timeline"].setdefault(phase, []).sort()
            if profiler:
                dump_profile(profiler, profile_path or "")

    def stop(self) -> None:
        """Ends the RSS sampling."""
        self.sampler.stop()


def dump_profile(profiler: Any, path: str) -> None:
    """``path.prof`` and the top 45 functions by cumulative and own time."""
    import io
    import pstats

    profiler.dump_stats(path + ".prof")
    for key in ("cumulative", "tottime"):
        stream = io.StringIO()
        pstats.Stats(profiler, stream=stream).sort_stats(key).print_stats(45)
        with open("%s.%s.txt" % (path, key), "w") as f:
            f.write(stream.getvalue())


class Breakdown:
    """The wall time of named functions per phase of a :class:`Meter`, taken
    by wrapping them (no profiler; nested entries overlap; calls from several
    threads add up). A label indented by two spaces is part of the entry
    above it."""

    def __init__(self, meter: Meter) -> None:
        self.meter = meter
        self.times: dict = collections.defaultdict(lambda: collections.defaultdict(float))
        self.calls: dict = collections.defaultdict(collections.Counter)
        self.labels: list[str] = []
        self.missing: list[str] = []

    def install(self, entries: list) -> None:
        """``entries``: ``[(module, qualname, label)]``; what cannot be found
        is listed in ``missing``."""
        import functools
        import importlib
        import inspect

        for module_name, qualname, label in entries:
            try:
                owner: Any = importlib.import_module(module_name)
                parts = qualname.split(".")
                for part in parts[:-1]:
                    owner = getattr(owner, part)
                static = inspect.getattr_static(owner, parts[-1])
                func = static.__func__ if isinstance(static, staticmethod) else getattr(owner, parts[-1])
            except (ImportError, AttributeError):
                self.missing.append("%s.%s" % (module_name, qualname))
                continue
            wrapper = functools.update_wrapper(self._wrap(func, label), func)
            setattr(owner, parts[-1], staticmethod(wrapper) if isinstance(static, staticmethod) else wrapper)
            self.labels.append(label)

    def _wrap(self, func: Callable, label: str) -> Callable:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            phase = self.meter.phase
            t0 = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                if phase is not None:
                    self.times[phase][label] += time.perf_counter() - t0
                    self.calls[phase][label] += 1

        return wrapper

    def as_dict(self) -> dict:
        """``{phase: [[label, seconds, calls]]}`` in the order installed."""
        return {
            phase: [[label, times[label], self.calls[phase][label]] for label in self.labels if label in times]
            for phase, times in self.times.items()
        }


def pause_for_parent(payload: dict) -> dict:
    """Hands ``payload`` to the parent (a line on stdout) and returns its
    JSON answer (read from stdin), e.g. what the annotator did."""
    sys.stdout.write(PAUSE_PREFIX + json.dumps(payload) + "\n")
    sys.stdout.flush()
    line = sys.stdin.readline()
    if not line:
        raise RuntimeError("the parent closed the pipe during a pause")
    answer = json.loads(line)
    if answer.get("error"):
        raise RuntimeError("the parent failed during the pause: %s" % answer["error"])
    return answer


def worker_main(run: Callable[[dict, dict], Any], spec_path: str, out_path: str) -> int:
    """A worker's ``main``: ``run(spec, out)``, then ``out`` (with the error
    and traceback of a failure, and the peak RSS) as JSON; 1 on failure."""
    with open(spec_path) as f:
        spec = json.load(f)
    out: dict = {}
    try:
        run(spec, out)
    except BaseException as e:
        out["error"] = "%s: %s" % (type(e).__name__, e)
        out["traceback"] = traceback.format_exc()
    out["ru_maxrss_mb"] = max_rss_mb()
    with open(out_path, "w") as f:
        json.dump(out, f)
    return 1 if "error" in out else 0
