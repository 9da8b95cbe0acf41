"""Helpers shared by the benchmarks (``bench_labelstudio.py``, ``bench_kili.py``,
``bench_fastlabel.py`` and the SDK baselines ``kili_sdk_baseline.py``,
``fastlabel_sdk_baseline.py``).

Only the standard library is imported at module level: the SDK baselines
import this module from the SDKs' own virtual environments (no FiftyOne, no
psutil there). Heavier imports happen inside the functions that need them.

- measurement inside a worker subprocess: :class:`RssSampler` (RSS every
  20 ms), :class:`RequestCounter` (wraps ``requests.Session.send`` and, when
  installed, ``httpx.Client.send``), :class:`Meter` (times a phase, counts its
  requests, samples its peak RSS, optionally profiles it), :class:`Breakdown`
  (wall time of named functions per phase), :class:`CallTimeline` (start,
  end and status of every request, for call-budget figures);
- the workload: :func:`boxes_of`, :func:`make_std_images`,
  :func:`build_dataset`, :func:`labels_summary`, and the simulated
  annotator's expected result: :func:`expected_boxes`, :func:`check_summary`;
- the report: :func:`machine_info`, :func:`git_state`, :func:`write_section`
  (RESULTS.md is a file of sections between marker comments, one per bench).
"""

import collections
import datetime
import os
import platform
import random
import re
import subprocess
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CACHE = os.path.abspath(os.environ.get("FOAB_CACHE_DIR") or os.path.join(ROOT, ".cache"))
OUT_DIR = os.path.join(HERE, "out")
RESULTS_MD = os.path.join(HERE, "RESULTS.md")

CLASSES = ["cat", "dog", "car", "person"]
FIELD = "ground_truth"
LABEL_SCHEMA = {FIELD: {"type": "detections", "classes": CLASSES}}

MB = 1024 * 1024


def log(message):
    print("[%s] %s" % (datetime.datetime.now().strftime("%H:%M:%S"), message), flush=True)


# ---------------------------------------------------------------------------
# measurement helpers (used inside the worker subprocesses)
# ---------------------------------------------------------------------------


def _rss_reader():
    """A function returning this process's RSS in bytes (psutil when
    installed, else ``/proc/self/statm``: the same figure on Linux)."""
    try:
        import psutil

        process = psutil.Process()
        return lambda: process.memory_info().rss
    except ImportError:
        page = os.sysconf("SC_PAGE_SIZE")

        def read():
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * page

        return read


class RssSampler(threading.Thread):
    """Samples this process's RSS every ``interval`` seconds; ``peak`` is
    the largest value since the last :meth:`reset`."""

    def __init__(self, interval=0.02):
        super().__init__(daemon=True)
        self.rss = _rss_reader()
        self.interval = interval
        self._lock = threading.Lock()
        self._stop_event = threading.Event()
        self.peak = self.rss()

    def run(self):
        while not self._stop_event.is_set():
            self.sample()
            self._stop_event.wait(self.interval)

    def sample(self):
        value = self.rss()
        with self._lock:
            if value > self.peak:
                self.peak = value
        return value

    def reset(self):
        value = self.rss()
        with self._lock:
            self.peak = value
        return value

    def stop(self):
        self._stop_event.set()


def default_path_key(path):
    """``/api/projects/12/import`` -> ``/api/projects/{id}/import``."""
    return re.sub(r"/\d+(?=/|$)", "/{id}", path)


class RequestCounter:
    """Counts HTTP requests sent through ``requests`` and ``httpx`` while a
    phase is active (by wrapping ``Session.send`` / ``Client.send``).

    Args:
        path_key (None): maps a URL path to the key it is counted under
            (default :func:`default_path_key`)
    """

    def __init__(self, path_key=None):
        self.phase = None
        self.path_key = path_key or default_path_key
        self._lock = threading.Lock()
        self.counts = collections.defaultdict(collections.Counter)  # phase -> "lib METHOD /path" -> n
        self.bytes_sent = collections.Counter()

    def install(self):
        import requests

        counter = self
        original_requests_send = requests.Session.send

        def requests_send(session, request, **kwargs):
            counter.record("requests", request.method, request.url, request.headers.get("Content-Length"))
            return original_requests_send(session, request, **kwargs)

        requests.Session.send = requests_send
        try:
            import httpx
        except ImportError:  # e.g. the Kili SDK's environment
            return
        original_httpx_send = httpx.Client.send

        def httpx_send(client, request, *args, **kwargs):
            counter.record("httpx", request.method, str(request.url), request.headers.get("Content-Length"))
            return original_httpx_send(client, request, *args, **kwargs)

        httpx.Client.send = httpx_send

    def record(self, lib, method, url, length):
        phase = self.phase
        if phase is None:
            return
        path = self.path_key(re.sub(r"\?.*$", "", re.sub(r"^https?://[^/]+", "", url or "")))
        with self._lock:
            self.counts[phase]["%s %s %s" % (lib, method, path)] += 1
            try:
                self.bytes_sent[phase] += int(length or 0)
            except ValueError:
                pass

    def total(self, phase):
        return sum(self.counts[phase].values())

    def by_lib(self, phase):
        out = collections.Counter()
        for key, n in self.counts[phase].items():
            out[key.split(" ", 1)[0]] += n
        return dict(out)


class Meter:
    """Times a phase, counts its requests and samples its peak RSS."""

    def __init__(self, path_key=None):
        self.sampler = RssSampler()
        self.sampler.start()
        self.counter = RequestCounter(path_key)
        self.counter.install()
        self.phases = {}

    def measure(self, phase, func, profile_path=None):
        start_rss = self.sampler.reset()
        self.counter.phase = phase
        profiler = None
        if profile_path:
            import cProfile

            profiler = cProfile.Profile()
        t0 = time.perf_counter()
        try:
            if profiler:
                value = profiler.runcall(func)
            else:
                value = func()
        finally:
            seconds = time.perf_counter() - t0
            self.counter.phase = None
            self.sampler.sample()
            peak = self.sampler.peak
            self.phases[phase] = {
                "seconds": seconds,
                "requests": self.counter.total(phase),
                "requests_by_lib": self.counter.by_lib(phase),
                "requests_by_endpoint": dict(self.counter.counts[phase].most_common()),
                "bytes_sent": self.counter.bytes_sent[phase],
                "rss_start_mb": start_rss / MB,
                "rss_peak_mb": peak / MB,
                "rss_growth_mb": (peak - start_rss) / MB,
            }
            if profiler:
                dump_profile(profiler, profile_path)
        return value

    def stop(self):
        self.sampler.stop()


def dump_profile(profiler, path):
    import io
    import pstats

    profiler.dump_stats(path + ".prof")
    for key in ("cumulative", "tottime"):
        stream = io.StringIO()
        stats = pstats.Stats(profiler, stream=stream)
        stats.sort_stats(key).print_stats(45)
        with open("%s.%s.txt" % (path, key), "w") as f:
            f.write(stream.getvalue())


def process_cpu_seconds(pid=None):
    """User + system CPU seconds of a process (this one by default), read
    from ``/proc``; ``None`` when unreadable."""
    try:
        with open("/proc/%s/stat" % (pid or "self")) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / float(os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None


def max_rss_mb():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


class Breakdown:
    """Accumulates the wall time of wrapped functions in the meter's phase
    (no profiler overhead; nested entries overlap)."""

    def __init__(self, meter):
        self.meter = meter
        self.times = collections.defaultdict(lambda: collections.defaultdict(float))
        self.calls = collections.defaultdict(collections.Counter)
        self.labels = []
        self.missing = []

    def install(self, entries):
        """``entries``: ``[(module, qualname, label)]``."""
        import functools
        import importlib
        import inspect

        for module_name, qualname, label in entries:
            try:
                owner = importlib.import_module(module_name)
                parts = qualname.split(".")
                for part in parts[:-1]:
                    owner = getattr(owner, part)
                static = inspect.getattr_static(owner, parts[-1])
                func = getattr(owner, parts[-1])
            except (ImportError, AttributeError):
                self.missing.append(qualname)
                continue
            is_static = isinstance(static, staticmethod)
            if is_static:
                func = static.__func__
            wrapper = self._wrap(func, label)
            functools.update_wrapper(wrapper, func)
            setattr(owner, parts[-1], staticmethod(wrapper) if is_static else wrapper)
            self.labels.append(label)

    def _wrap(self, func, label):
        breakdown = self

        def wrapper(*args, **kwargs):
            phase = breakdown.meter.counter.phase
            t0 = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                if phase is not None:
                    breakdown.times[phase][label] += time.perf_counter() - t0
                    breakdown.calls[phase][label] += 1

        return wrapper

    def as_dict(self):
        return {
            phase: [
                [label, self.times[phase][label], self.calls[phase][label]]
                for label in self.labels
                if label in self.times[phase]
            ]
            for phase in self.times
        }


class CallTimeline:
    """Start and end times (seconds from the phase start, ``perf_counter``)
    and the HTTP status of every request sent through
    ``requests.Session.send`` while a phase is active (the official SDKs'
    module-level ``requests.post`` goes through it too), for call-budget
    figures: achieved calls per second, calls in any window.

    Use :meth:`start` / :meth:`stop` around a phase; ``calls[phase]`` is a
    list of ``[start, end, status, "METHOD /path"]`` (status ``None`` when
    the request raised).
    """

    def __init__(self, path_key=None):
        self.phase = None
        self.path_key = path_key or default_path_key
        self.t0 = {}
        self.calls = collections.defaultdict(list)
        self._lock = threading.Lock()

    def install(self):
        import requests

        timeline = self
        original_send = requests.Session.send

        def send(session, request, **kwargs):
            phase = timeline.phase
            if phase is None:
                return original_send(session, request, **kwargs)
            start = time.perf_counter()
            status = None
            try:
                response = original_send(session, request, **kwargs)
                status = response.status_code
                return response
            finally:
                end = time.perf_counter()
                t0 = timeline.t0[phase]
                path = timeline.path_key(re.sub(r"\?.*$", "", re.sub(r"^https?://[^/]+", "", request.url or "")))
                with timeline._lock:
                    timeline.calls[phase].append([start - t0, end - t0, status, "%s %s" % (request.method, path)])

        requests.Session.send = send
        return self

    def start(self, phase):
        self.t0[phase] = time.perf_counter()
        self.phase = phase

    def stop(self):
        self.phase = None

    def as_dict(self):
        return {phase: sorted(calls) for phase, calls in self.calls.items()}


# ---------------------------------------------------------------------------
# the workload
# ---------------------------------------------------------------------------


def image_index(filepath):
    """``.../img_00012.jpg`` -> 12."""
    return int(re.search(r"(\d+)\.\w+$", filepath).group(1))


def boxes_of(index):
    """The 3-4 ground-truth boxes of image ``index`` (deterministic):
    ``[(class, [x, y, w, h])]``, normalised."""
    rng = random.Random(1000 + index)
    boxes = []
    for _ in range(rng.choice((3, 4))):
        w, h = rng.uniform(0.1, 0.3), rng.uniform(0.1, 0.3)
        x, y = rng.uniform(0, 1 - w), rng.uniform(0, 1 - h)
        boxes.append((rng.choice(CLASSES), [x, y, w, h]))
    return boxes


def make_std_images(n, width=640, height=480):
    """``n`` 640x480 JPEGs (noise + filled boxes), cached; returns paths."""
    import numpy as np
    from PIL import Image, ImageDraw

    folder = os.path.join(CACHE, "bench-media", "std-%dx%d" % (width, height))
    os.makedirs(folder, exist_ok=True)
    colors = {"cat": (230, 120, 40), "dog": (60, 160, 230), "car": (200, 40, 60), "person": (80, 200, 90)}
    paths = []
    made = 0
    for i in range(n):
        path = os.path.join(folder, "img_%05d.jpg" % i)
        paths.append(path)
        if os.path.isfile(path) and os.path.getsize(path) > 0:
            continue
        rng = np.random.default_rng(i)
        pixels = (rng.random((height, width, 3)) * 90 + 40).astype(np.uint8)
        image = Image.fromarray(pixels)
        draw = ImageDraw.Draw(image)
        for label, (x, y, w, h) in boxes_of(i):
            draw.rectangle([x * width, y * height, (x + w) * width, (y + h) * height], fill=colors[label])
        tmp = path + ".tmp"
        image.save(tmp, format="JPEG", quality=90)
        os.replace(tmp, path)
        made += 1
    if made:
        log("generated %d images in %s" % (made, folder))
    return paths


def build_dataset(name, paths, with_boxes=True, metadata=True, field=FIELD):
    """A fresh dataset of ``paths`` with :func:`boxes_of` in ``field``."""
    import fiftyone as fo
    import fiftyone.core.labels as fol

    if fo.dataset_exists(name):
        fo.delete_dataset(name)
    dataset = fo.Dataset(name)
    samples = []
    for path in paths:
        index = image_index(path)
        boxes = boxes_of(index) if with_boxes else boxes_of(index)[:1]
        samples.append(
            fo.Sample(
                filepath=path,
                **{
                    field: fol.Detections(detections=[fol.Detection(label=label, bounding_box=b) for label, b in boxes])
                },
            )
        )
    dataset.add_samples(samples, progress=False)
    if metadata:
        dataset.compute_metadata(progress=False)
    return dataset


def labels_summary(dataset, field=FIELD):
    """``{image index: sorted [(label, box rounded to 1e-4)]}`` of the field."""
    paths, labels, boxes = dataset.values(["filepath", field + ".detections.label", field + ".detections.bounding_box"])
    out = {}
    for path, sample_labels, sample_boxes in zip(paths, labels, boxes):
        items = sorted(
            [label, [round(v, 4) for v in box]] for label, box in zip(sample_labels or [], sample_boxes or [])
        )
        out[str(image_index(path))] = items
    return out


def expected_boxes(index):
    """The boxes of image ``index`` after the simulated annotator's edit
    used by the benches: every box kept (``index % 3 == 0``), the first box
    moved 5% of the width to the right and kept inside the image (``== 1``),
    the last box deleted (``== 2``)."""
    boxes = [(label, list(box)) for label, box in boxes_of(index)]
    if index % 3 == 1:
        label, (x, y, w, h) = boxes[0]
        boxes[0] = (label, [min(x + 0.05, 1.0 - w), y, w, h])
    elif index % 3 == 2:
        boxes = boxes[:-1]
    return boxes


def check_summary(summary, indices, tolerance=2e-4):
    """Compares a :func:`labels_summary`-style dict with
    :func:`expected_boxes`; returns ``(images as expected, [mismatching
    image indices])``."""
    bad = []
    for index in indices:
        got = sorted((label, box) for label, box in summary.get(str(index), []))
        want = sorted((label, [round(v, 4) for v in box]) for label, box in expected_boxes(index))
        ok = len(got) == len(want) and all(
            gl == wl and all(abs(a - b) <= tolerance for a, b in zip(gb, wb)) for (gl, gb), (wl, wb) in zip(got, want)
        )
        if not ok:
            bad.append(index)
    return len(indices) - len(bad), bad


# ---------------------------------------------------------------------------
# the report
# ---------------------------------------------------------------------------


def machine_info():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        import psutil

        ram_gb = psutil.virtual_memory().total / 1024**3
    except ImportError:
        ram_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram_gb": ram_gb,
        "loadavg": os.getloadavg(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def package_versions(names):
    from importlib import metadata

    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except Exception:
            out[name] = "?"
    return out


def git_state():
    """The package's commit and whether its source differs from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=30
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "fo_annotation_backends"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()
        return "%s%s" % (head or "?", " + uncommitted changes in fo_annotation_backends/" if dirty else "")
    except Exception:
        return "?"


def fmt(value, pattern="%.2f", missing="—"):
    return missing if value is None else pattern % value


def time_cell(ph, seconds=None):
    """``median (min–max)`` of a phase summary with ``all_seconds``."""
    if not ph:
        return "—"
    seconds = ph["seconds"] if seconds is None else seconds
    values = ph.get("all_seconds") or []
    if len(values) > 1:
        return "%.2f (%.2f–%.2f)" % (seconds, min(values), max(values))
    return "%.2f" % seconds


RESULTS_HEADER = """# Benchmarks

Figures measured by the scripts in `bench/` (run them with `./run bench [labelstudio|kili|fastlabel|all] [options]`).
Each section below is written by its own script between `<!-- bench:NAME:start -->` and
`<!-- bench:NAME:end -->` comments: a run replaces its own section and leaves the others as they are.
Do not edit the sections by hand: re-run the bench.
"""


def section_markers(name):
    return "<!-- bench:%s:start -->" % name, "<!-- bench:%s:end -->" % name


def shift_headings(markdown, levels=1):
    """Markdown with every ATX heading ``levels`` deeper (``#`` -> ``##``),
    so that a bench's report nests under the file's own title."""
    out = []
    fenced = False
    for line in markdown.split("\n"):
        if line.startswith("```"):
            fenced = not fenced
        if not fenced and re.match(r"#{1,5} ", line):
            line = "#" * levels + line
        out.append(line)
    return "\n".join(out)


def write_section(path, name, body):
    """Replaces the ``name`` section of the results file with ``body``
    (appended when missing; the file gets :data:`RESULTS_HEADER` when new),
    leaving everything else as it is."""
    start, end = section_markers(name)
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        text = ""
    block = "%s\n%s\n%s" % (start, body.strip("\n"), end)
    i, j = text.find(start), text.find(end)
    if i >= 0 and j > i:
        text = text[:i] + block + text[j + len(end) :]
    else:
        if not text.strip():
            text = RESULTS_HEADER
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


class EmulatorControl:
    """The control endpoints of one of our emulators (``/_emulator/...``):
    server-side request counts per operation, budget knobs. Call it outside
    measured phases (its own requests are not the client's)."""

    def __init__(self, client_url, api_key):
        import requests

        self.base = re.sub(r"^(https?://[^/]+).*$", r"\1", client_url)
        self.session = requests.Session()
        self.session.headers["Authorization"] = "X-API-Key: %s" % api_key

    def _call(self, method, name, **kwargs):
        response = self.session.request(method, "%s/_emulator/%s" % (self.base, name), timeout=60, **kwargs)
        response.raise_for_status()
        return response.json()

    def stats(self):
        return self._call("GET", "stats")

    def reset_stats(self):
        return self._call("POST", "reset_stats")

    def set_knobs(self, **knobs):
        return self._call("POST", "faults", json=knobs)


def stats_delta(before, after):
    """What happened on an emulator between two ``stats()`` snapshots (no
    reset in between): requests, operations, statuses, faults and
    ``over_limit`` as differences; ``peak_calls_in_window`` is the peak since
    the last reset (a maximum cannot be differenced)."""
    out = dict(after)
    out["requests"] = after.get("requests", 0) - before.get("requests", 0)
    out["over_limit"] = after.get("over_limit", 0) - before.get("over_limit", 0)
    for key in ("operations", "statuses", "faults"):
        got = {k: v - (before.get(key) or {}).get(k, 0) for k, v in (after.get(key) or {}).items()}
        out[key] = {k: v for k, v in got.items() if v}
    return out


# ---------------------------------------------------------------------------
# a worker's pause: the parent does something (e.g. plays the annotator)
# between two phases of a worker subprocess
# ---------------------------------------------------------------------------

PAUSE_PREFIX = "@@bench-pause "


def pause_for_parent(payload):
    """In a worker: hands ``payload`` to the parent (a line on stdout) and
    waits for its JSON answer on stdin."""
    import json
    import sys

    sys.stdout.write(PAUSE_PREFIX + json.dumps(payload) + "\n")
    sys.stdout.flush()
    line = sys.stdin.readline()
    if not line:
        raise RuntimeError("the parent closed the pipe during a pause")
    answer = json.loads(line)
    if answer.get("error"):
        raise RuntimeError("the parent failed during the pause: %s" % answer["error"])
    return answer


def run_worker_process(command, out_path, log_path, timeout, on_pause=None, env=None):
    """Runs a worker subprocess (its output goes to ``log_path``), answering
    its pauses with ``on_pause(payload) -> dict``; returns its JSON output
    (``{"error": ...}`` when it failed without any)."""
    import json

    if os.path.exists(out_path):
        os.remove(out_path)
    process = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        env=env,
    )
    timed_out = threading.Event()

    def kill():
        timed_out.set()
        process.kill()

    watchdog = threading.Timer(timeout, kill)
    watchdog.daemon = True
    watchdog.start()
    pause_error = None
    try:
        with open(log_path, "w") as log_file:
            for line in process.stdout:
                if line.startswith(PAUSE_PREFIX):
                    try:
                        answer = on_pause(json.loads(line[len(PAUSE_PREFIX) :])) if on_pause else {}
                    except Exception as e:
                        pause_error = "%s: %s" % (type(e).__name__, e)
                        answer = {"error": pause_error}
                    process.stdin.write(json.dumps(answer) + "\n")
                    process.stdin.flush()
                else:
                    log_file.write(line)
                    log_file.flush()
        process.wait()
    except BaseException:  # interrupted: do not leave the worker behind
        process.kill()
        process.wait(timeout=30)
        raise
    finally:
        watchdog.cancel()
    if timed_out.is_set():
        return {"error": "worker timed out after %ds (log: %s)" % (timeout, log_path)}
    try:
        with open(out_path) as f:
            out = json.load(f)
    except (OSError, ValueError):
        return {"error": "worker exited %s without output (log: %s)" % (process.returncode, log_path)}
    if pause_error and not out.get("error"):
        out["error"] = pause_error
    return out
