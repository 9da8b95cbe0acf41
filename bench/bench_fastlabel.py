"""Benchmark: our FastLabel backend against the FastLabel emulator under
FastLabel's call budget (scaled down), side by side with the official
FastLabel SDK used by hand.

FastLabel allows 10,000 API calls per 10 minutes; one task is one call (its
image travels inside it as base64), so for a FastLabel backend the budget,
not the transport, sets the upload speed: pacing is the performance problem.
The budget is scaled down here so that it binds at N=1000: by default 300
calls per 10 s (30 calls/s), enforced by the emulator (a call over it gets a
429).

One run starts ONE FastLabel emulator as a subprocess (its CLI, with
``--max-calls 300 --window-seconds 10``: a process of its own, sharing
neither the GIL nor the memory of the clients), builds a dataset of N
generated 640x480 JPEGs with 3-4 ground-truth boxes each, and then, round
after round, each in a fresh subprocess:

- ours (``fo_annotation_backends.fastlabel``, configured with the same
  budget: ``max_calls=300, window_seconds=10``): ``import`` (informational),
  ``annotate()``, a simulated annotator (played by this parent process; not
  timed, not counted, not budgeted), ``load_annotations()``,
  ``results.cleanup()``;
- the baseline (``fastlabel_sdk_baseline.py``, in the SDK's own venv), what
  a user would write by hand: ``create_project``, ``create_annotation`` per
  class, ``create_image_task`` per image with its boxes, in a plain loop.
  The SDK neither paces nor retries, so two variants: ``plain`` (as fast as
  it goes: 429s; how far it gets and how many calls fail is reported) and
  ``sleep`` (a naive fixed ``time.sleep(window / max_calls)`` before every
  call, which stays under the limit), the latter then downloads by hand
  (``get_image_tasks`` paged by offset, 1000 a page) after the same
  annotator, and deletes its project;
- ``--full-limit``: ours again with FastLabel's real 10,000 calls per 600 s
  (emulator and client), where N=1000 never waits for the budget: the upload
  speed when the budget does not bind.

Every phase: wall time; every HTTP request the client sent, with its start,
end and status (``requests.Session.send`` wrapped); the emulator's own
counts (``/_emulator/stats``: requests per operation, statuses,
``over_limit``, ``peak_calls_in_window``); achieved calls per second as a
fraction of the budget, over the whole phase and in steady state (the mean
number of calls in a sliding budget window, over the windows that end
before the last call starts); peak RSS and growth; client and emulator CPU.

Figures go to the ``fastlabel`` section of ``bench/RESULTS.md``; raw JSON to
``bench/out/fastlabel/``.

    ./run bench fastlabel [--n 1000] [--rounds 3] [--full-limit] [--skip-baseline] [--no-write]
                          [--max-calls 300] [--window-seconds 10] [--config KEY=VALUE] [--profile]
"""

import argparse
import bisect
import collections
import concurrent.futures
import datetime
import json
import os
import secrets
import shlex
import signal
import statistics
import subprocess
import sys
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for _path in (ROOT, HERE):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from bench_common import (  # noqa: E402
    CACHE,
    CLASSES,
    FIELD,
    LABEL_SCHEMA,
    MB,
    RESULTS_MD,
    Breakdown,
    CallTimeline,
    EmulatorControl,
    Meter,
    build_dataset,
    check_summary,
    expected_boxes,
    fmt,
    git_state,
    image_index,
    labels_summary,
    log,
    machine_info,
    max_rss_mb,
    package_versions,
    pause_for_parent,
    process_cpu_seconds,
    run_worker_process,
    shift_headings,
    stats_delta,
    time_cell,
    write_section,
)
from fastlabel_sdk_baseline import fastlabel_path_key  # noqa: E402

OUT_DIR = os.path.join(HERE, "out", "fastlabel")
SDK_SCRIPT = os.path.join(HERE, "fastlabel_sdk_baseline.py")
SDK_PYTHON = os.path.join(CACHE, "fastlabel-sdk-venv", "bin", "python")
CONFIG_CLS = "fo_annotation_backends.fastlabel.FastLabelBackendConfig"
BACKEND = "fastlabel"
FULL_LIMIT = (10000, 600.0)  # FastLabel's documented budget

OURS_PHASES = ("import", "annotate", "load_annotations", "cleanup")
SDK_PHASES = ("import", "upload", "download", "cleanup")
SIDE_LABELS = {
    "ours": "ours",
    "sdk": "SDK by hand + fixed sleep",
    "sdk_plain": "SDK by hand, plain loop",
    "ours_full": "ours, full limit",
}


# ---------------------------------------------------------------------------
# where the time goes in ours: wall time of named functions per phase
# ---------------------------------------------------------------------------

FO_ANNOTATIONS = "fiftyone.utils.annotations"
FL_BACKEND = "fo_annotation_backends.fastlabel.backend"
FL_UPLOAD = "fo_annotation_backends.fastlabel.upload"
FL_TASKS = "fo_annotation_backends.fastlabel.runtasks"
FL_CLIENT = "fo_annotation_backends.fastlabel.client"
CORE_HTTP = "fo_annotation_backends.core.http"
CORE_PACING = "fo_annotation_backends.core.pacing"
CORE_DOWNLOAD = "fo_annotation_backends.core.download"

PACING_LABEL = "  ↳ waiting for the budget (`Pacer`; threads add up)"
BREAKDOWN = [
    (FO_ANNOTATIONS, "_build_label_schema", "FiftyOne: validate the label schema"),
    (FL_UPLOAD, "normalize_label_schema", "normalize schema"),
    (FL_UPLOAD, "Uploader._check_media", "check media files"),
    (FL_UPLOAD, "sample_image_sizes", "image sizes (from metadata)"),
    (FL_BACKEND, "FastLabelBackend._connect_to_api", "create client"),
    (FL_CLIENT, "FastLabelClient.check_credentials", "check credentials (`GET projects`)"),
    (FL_UPLOAD, "Uploader._find_project", "find project"),
    (FL_UPLOAD, "Uploader._create_project", "create project"),
    (FL_UPLOAD, "Uploader._create_classes", "create classes"),
    (FL_UPLOAD, "Uploader._convert", "convert labels (before the first request)"),
    (FL_UPLOAD, "Uploader._send_tasks", "create the tasks (`upload_workers` threads)"),
    (FL_UPLOAD, "field_values", "  read label fields (FiftyOne `values()`)"),
    (FL_UPLOAD, "labels_to_task", "  convert labels to task annotations"),
    (FL_UPLOAD, "_base64_image", "  read + base64-encode the images (threads add up)"),
    (FL_CLIENT, "FastLabelClient.create_task", "  `POST tasks/image` incl. pacing (threads add up)"),
    (FL_UPLOAD, "Uploader._read_back", "read back task + annotation ids (`GET tasks/image`)"),
    (FL_BACKEND, "FastLabelBackend.download_annotations", "download_annotations (backend)"),
    (CORE_DOWNLOAD, "load_current_labels", "  read current labels (FiftyOne `values()`)"),
    (FL_TASKS, "task_to_labels", "  convert tasks to labels"),
    (FO_ANNOTATIONS, "_merge_labels", "FiftyOne: merge labels into the dataset"),
    (FL_CLIENT, "FastLabelClient.delete_project", "delete project"),
    (CORE_HTTP, "HttpSession.request", "every API call: pacing + HTTP (threads add up)"),
    (CORE_PACING, "Pacer._wait_for_room", PACING_LABEL),
]


# ---------------------------------------------------------------------------
# the worker: one round of ours, in a fresh subprocess
# ---------------------------------------------------------------------------


def worker_ours(spec, out):
    meter = Meter(path_key=fastlabel_path_key)
    timeline = CallTimeline(path_key=fastlabel_path_key).install()
    out.update(backend="ours", phases=meter.phases, server={}, cpu={})
    emulator = EmulatorControl(spec["url"], spec["api_key"])
    breakdown = None
    try:
        import importlib

        import fiftyone as fo

        fo.annotation_config.backends[BACKEND] = {
            "config_cls": CONFIG_CLS,
            "url": spec["url"],
            "api_key": spec["api_key"],
        }
        dataset = fo.load_dataset(spec["dataset"])
        dataset.count()  # connect to the database before measuring
        ids_before = set(dataset.values(FIELD + ".detections.id", unwind=True))
        profile = spec.get("profile_prefix")

        def measure(phase, func, profile_path=None):
            before = emulator.stats()
            cpu = process_cpu_seconds(), process_cpu_seconds(spec.get("emulator_pid"))
            timeline.start(phase)
            try:
                return meter.measure(phase, func, profile_path=profile_path)
            finally:
                timeline.stop()
                after = process_cpu_seconds(), process_cpu_seconds(spec.get("emulator_pid"))
                out["server"][phase] = stats_delta(before, emulator.stats())
                out["cpu"][phase] = {
                    "client": None if None in (cpu[0], after[0]) else after[0] - cpu[0],
                    "emulator": None if None in (cpu[1], after[1]) else after[1] - cpu[1],
                }

        measure("import", lambda: importlib.import_module("fo_annotation_backends.fastlabel"))
        if spec.get("breakdown"):
            breakdown = Breakdown(meter)
            breakdown.install(BREAKDOWN)

        anno_key = spec["anno_key"]
        emulator.reset_stats()  # a fresh budget window for the round
        results = measure(
            "annotate",
            lambda: dataset.annotate(anno_key, backend=BACKEND, label_schema=LABEL_SCHEMA, **spec.get("config", {})),
            profile_path=(profile + "annotate") if profile else None,
        )
        out["project_slug"] = results.project_slug
        out["assets"] = len(results.task_ids)
        out["config"] = {
            k: getattr(results.config, k)
            for k in ("upload_workers", "max_calls", "window_seconds", "max_retries", "timeout", "load_statuses")
        }

        # the annotator, played by the parent: not timed, not counted
        paths = dict(zip(*dataset.values(["id", "filepath"])))
        out["annotator"] = pause_for_parent(
            {"project_id": results.project_id, "tasks": {t: image_index(paths[s]) for s, t in results.task_ids.items()}}
        )

        measure(
            "load_annotations",
            lambda: dataset.load_annotations(anno_key),
            profile_path=(profile + "load") if profile else None,
        )
        out["labels_after_load"] = dataset.count(FIELD + ".detections")
        out["summary"] = labels_summary(dataset)
        ids_after = dataset.values(FIELD + ".detections.id", unwind=True)
        out["ids_kept"] = sum(1 for i in ids_after if i in ids_before)
        out["ids_new"] = sum(1 for i in ids_after if i not in ids_before)

        measure("cleanup", results.cleanup)
        try:
            dataset.delete_annotation_run(anno_key)
        except Exception:
            pass
    finally:
        meter.stop()
        out["timeline"] = timeline.as_dict()
        if breakdown is not None:
            out["breakdown"] = breakdown.as_dict()
            out["breakdown_missing"] = breakdown.missing


def worker_main(mode, spec_path, out_path):
    with open(spec_path) as f:
        spec = json.load(f)
    out = {}
    try:
        {"ours": worker_ours}[mode](spec, out)
    except BaseException as e:
        out["error"] = "%s: %s" % (type(e).__name__, e)
        out["traceback"] = traceback.format_exc()
    out["ru_maxrss_mb"] = max_rss_mb()
    with open(out_path, "w") as f:
        json.dump(out, f)
    return 1 if "error" in out else 0


# ---------------------------------------------------------------------------
# the parent: the emulator, the annotator, the rounds
# ---------------------------------------------------------------------------


class EmulatorProcess:
    """The FastLabel emulator, run through its CLI in a subprocess of its own,
    with a call budget."""

    def __init__(self, api_key, log_path, max_calls, window_seconds):
        self.api_key = api_key
        self.log_path = log_path
        self.max_calls = max_calls
        self.window_seconds = window_seconds
        self.process = None
        self.url = None
        self._log = None

    @property
    def command(self):
        return [
            sys.executable,
            "-m",
            "fo_annotation_backends.testing.fastlabel",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--api-key",
            self.api_key,
            "--max-calls",
            str(self.max_calls),
            "--window-seconds",
            "%g" % self.window_seconds,
        ]

    def start(self, timeout=60):
        self._log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            self.command, stdout=subprocess.PIPE, stderr=self._log, stdin=subprocess.DEVNULL, text=True, cwd=ROOT
        )
        got = []
        reader = threading.Thread(target=lambda: got.append(self.process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        line = (got[0] if got else "").strip()
        if not line.startswith("http"):
            self.stop()
            raise RuntimeError("the FastLabel emulator did not start (first line %r; log %s)" % (line, self.log_path))
        self.url = line
        threading.Thread(target=lambda: [None for _ in self.process.stdout], daemon=True).start()
        return self

    def probe(self, calls=30):
        """Median milliseconds of a small call (``GET projects?limit=1``) on a
        kept-alive connection, and with a new connection per call (as the
        SDK does)."""
        import requests

        url = self.url + "projects"
        headers = {"Authorization": "Bearer %s" % self.api_key}
        out = {}
        with requests.Session() as session:
            for label, get in (
                ("keepalive_ms", lambda: session.get(url, params={"limit": 1}, headers=headers, timeout=30)),
                ("new_connection_ms", lambda: requests.get(url, params={"limit": 1}, headers=headers, timeout=30)),
            ):
                get().raise_for_status()
                times = []
                for _ in range(calls):
                    t0 = time.perf_counter()
                    get().raise_for_status()
                    times.append((time.perf_counter() - t0) * 1000)
                out[label] = statistics.median(times)
        return out

    def rss_mb(self):
        try:
            import psutil

            return psutil.Process(self.process.pid).memory_info().rss / MB
        except Exception:
            return None

    def stop(self):
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)  # our own child, by pid
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)
        if self._log:
            self._log.close()
            self._log = None


def edit_annotations(index, task):
    """The annotator's edit of image ``index`` (the same as the other
    benches', see ``bench_common.expected_boxes``), in pixels: keep every box
    (i%3==0), move the first box 5% of the width to the right, kept inside
    the image (i%3==1), delete the last box (i%3==2). Edited annotations
    keep their ids, as in FastLabel's web editor."""
    annotations = list(task.get("annotations") or [])
    boxes = [a for a in annotations if a.get("type") == "bbox"]
    if index % 3 == 1 and boxes:
        points = boxes[0]["points"]
        width = float(task["width"])
        dx = min(0.05 * width, width - max(points[0], points[2]))
        points[0] += dx
        points[2] += dx
    elif index % 3 == 2 and boxes:
        last = boxes[-1]
        annotations = [a for a in annotations if a is not last]
    return annotations


class Annotator:
    """Plays the person in FastLabel's web editor between the two halves of a
    round (``FastLabelAnnotator``: ``task()``, then ``submit(...,
    status="completed")``, 4 threads). The web editor's calls are not API
    calls of the access token's budget: the emulator's budget is lifted
    while it works, then restored with a fresh window."""

    def __init__(self, url, api_key, control, runner, workers=4):
        self.url = url
        self.api_key = api_key
        self.control = control
        self.runner = runner
        self.workers = workers
        self._local = threading.local()

    def _annotator(self):
        if not hasattr(self._local, "annotator"):
            from fo_annotation_backends.testing.fastlabel_annotator import FastLabelAnnotator

            self._local.annotator = FastLabelAnnotator(self.url, self.api_key)
        return self._local.annotator

    def _work(self, task_id, index):
        annotator = self._annotator()
        task = annotator.task(task_id)
        ids = [a.get("id") for a in task.get("annotations") or []]
        after = annotator.submit(task_id, edit_annotations(index, task), status="completed")
        kept = sum(1 for a in (after or {}).get("annotations") or [] if a.get("id") in ids)
        return kept

    def __call__(self, payload):
        t0 = time.perf_counter()
        tasks = payload["tasks"]
        self.control.set_knobs(max_calls=None)
        try:
            with concurrent.futures.ThreadPoolExecutor(self.workers) as pool:
                kept = list(pool.map(lambda item: self._work(item[0], int(item[1])), tasks.items()))
        finally:
            knobs = self.runner.knobs
            self.control.set_knobs(max_calls=knobs[0], window_seconds=knobs[1], enforce_limit=True)
            self.control.reset_stats()  # the budget window starts afresh after the editor's calls
        return {"annotated": len(kept), "annotation_ids_kept": sum(kept), "seconds": time.perf_counter() - t0}


def sdk_inputs(dataset):
    """What the baseline starts from: paths, task names, image sizes and
    boxes, in memory."""
    paths, widths, heights, labels, boxes = dataset.values(
        [
            "filepath",
            "metadata.width",
            "metadata.height",
            FIELD + ".detections.label",
            FIELD + ".detections.bounding_box",
        ]
    )
    items = []
    for path, width, height, sample_labels, sample_boxes in zip(paths, widths, heights, labels, boxes):
        items.append(
            {
                "path": path,
                "name": os.path.basename(path),
                "index": image_index(path),
                "width": width,
                "height": height,
                "boxes": [[label, list(b)] for label, b in zip(sample_labels or [], sample_boxes or [])],
            }
        )
    return {"classes": list(CLASSES), "items": items}


class Runner:
    def __init__(self, args, emulator, control):
        self.args = args
        self.emulator = emulator
        self.control = control
        self.budget = (args.max_calls, args.window_seconds)
        self.knobs = self.budget  # the emulator's budget right now
        self.annotator = Annotator(emulator.url, emulator.api_key, control, self)
        self.datasets = []

    def set_budget(self, knobs):
        if knobs != self.knobs:
            self.control.set_knobs(max_calls=knobs[0], window_seconds=knobs[1], enforce_limit=True)
            self.knobs = knobs

    def ours(self, base, tag, config, knobs=None, profile_prefix=None, breakdown=True):
        import fiftyone as fo

        knobs = knobs or self.budget
        name = "bench_fastlabel_%s" % tag
        base.clone(name)
        self.datasets.append(name)
        spec = {
            "url": self.emulator.url,
            "api_key": self.emulator.api_key,
            "emulator_pid": self.emulator.process.pid,
            "dataset": name,
            "anno_key": "bench_%s" % tag,
            "config": dict(config, max_calls=knobs[0], window_seconds=knobs[1]),
            "profile_prefix": profile_prefix,
            "breakdown": breakdown,
        }
        self.set_budget(knobs)
        try:
            return self._run([sys.executable, os.path.abspath(__file__), "--worker", "ours"], spec, "ours_%s" % tag)
        finally:
            self.set_budget(self.budget)
            if not self.args.keep_datasets and fo.dataset_exists(name):
                fo.delete_dataset(name)

    def sdk(self, inputs_path, tag, mode):
        slug = "sdk-%s-%s" % (tag.replace("_", "-"), secrets.token_hex(3))
        spec = {
            "url": self.emulator.url,
            "api_key": self.emulator.api_key,
            "inputs": inputs_path,
            "mode": mode,
            "sleep_seconds": self.budget[1] / float(self.budget[0]),
            "window_seconds": self.budget[1],
            "slug": slug,
            "name": "SDK baseline %s" % tag,
        }
        env = dict(os.environ, FASTLABEL_API_URL=self.emulator.url, FASTLABEL_ACCESS_TOKEN=self.emulator.api_key)
        env.pop("PYTHONPATH", None)
        self.set_budget(self.budget)
        return self._run([SDK_PYTHON, SDK_SCRIPT], spec, "sdk_%s" % tag, env=env)

    def _run(self, command, spec, tag, env=None):
        spec_path = os.path.join(OUT_DIR, "%s.spec.json" % tag)
        out_path = os.path.join(OUT_DIR, "%s.json" % tag)
        with open(spec_path, "w") as f:
            json.dump(spec, f)
        out = run_worker_process(
            command + [spec_path, out_path],
            out_path,
            os.path.join(OUT_DIR, "%s.log" % tag),
            timeout=900 + 2.0 * self.args.n,
            on_pause=self.annotator,
            env=env,
        )
        if out.get("error"):
            log("worker %s failed: %s" % (tag, out["error"]))
            if out.get("traceback"):
                print(out["traceback"], flush=True)
        return out


# ---------------------------------------------------------------------------
# budget figures, from a phase's call timeline
# ---------------------------------------------------------------------------


def budget_figures(calls, max_calls, window, phase_seconds, step=0.01):
    """Call-budget figures of one phase.

    ``calls``: the phase's ``[start, end, status, "METHOD /path"]`` (seconds
    from the phase start). Accepted calls are those the server did not
    refuse with a 429 (nor fail to answer): they are what the budget lets
    through.

    - ``phase_rate``: accepted calls / the phase's wall time (a fresh budget
      lets ``max_calls`` through at once, so this can exceed the budget);
    - ``steady_fraction``: the mean number of accepted calls starting in a
      sliding window of ``window`` seconds, over every window position from
      the first call's start to ``window`` before the last call's start
      (windows after which the client still had calls to make), divided by
      ``max_calls``; ``None`` when the calls span less than a window;
    - ``lower_bound``: the least time between the first and the last
      accepted call's start that the budget allows (``window *
      floor((calls - 1) / max_calls)``), ``pacing_efficiency`` that over the
      actual span;
    - ``max_in_window``: the most accepted calls starting within any window
      (client-side view of the server's peak).
    """
    api = [c for c in calls if "/v1/" in c[3]]
    accepted = sorted(c for c in api if c[2] is not None and c[2] != 429)
    out = {
        "calls": len(api),
        "accepted": len(accepted),
        "status_429": sum(1 for c in api if c[2] == 429),
        "errors": sum(1 for c in api if c[2] is None or (c[2] >= 400 and c[2] != 429)),
        "budget_rate": max_calls / float(window),
    }
    if not accepted:
        return out
    starts = [c[0] for c in accepted]
    first, last_start, last_end = starts[0], starts[-1], max(c[1] for c in accepted)
    n = len(starts)
    out.update(
        first_start=first,
        last_start=last_start,
        last_end=last_end,
        phase_rate=n / phase_seconds if phase_seconds else None,
        span_rate=n / (last_end - first) if last_end > first else None,
        lower_bound=window * ((n - 1) // max_calls),
        start_span=last_start - first,
        max_in_window=max(bisect.bisect_left(starts, s + window) - i for i, s in enumerate(starts)),
    )
    out["phase_fraction"] = out["phase_rate"] / out["budget_rate"] if out["phase_rate"] is not None else None
    # when call #k*max_calls+1 started, after the first: the budget allows
    # k*window after the ends of the calls it replaces
    out["window_starts"] = [starts[k] - first for k in range(max_calls, n, max_calls)]
    if out["window_starts"]:
        out["last_window_seconds"] = last_start - starts[(n - 1) // max_calls * max_calls]
        ends = sorted(c[1] for c in accepted)
        delays = [starts[k + max_calls] - (ends[k] + window) for k in range(n - max_calls)]
        out["pacer_delay_ms_median"] = 1000 * statistics.median(delays)
        out["pacer_delay_ms_mean"] = 1000 * statistics.mean(delays)
    out["pacing_efficiency"] = (
        out["lower_bound"] / out["start_span"] if out["lower_bound"] and out["start_span"] else None
    )
    if last_start - first > window:
        counts = []
        t = first
        while t <= last_start - window:
            counts.append(bisect.bisect_left(starts, t + window) - bisect.bisect_left(starts, t))
            t += step
        out["steady_fraction"] = statistics.mean(counts) / max_calls
        out["steady_min_fraction"] = min(counts) / float(max_calls)
        out["steady_rate"] = statistics.mean(counts) / float(window)
    else:
        out["steady_fraction"] = None
    tasks = [c for c in accepted if c[3].endswith("POST /v1/tasks/image")]
    if tasks:
        # the client's own work between the set-up calls and the first task
        before = [c[1] for c in accepted if c[0] < tasks[0][0]]
        out["first_task_gap"] = tasks[0][0] - max(before) if before else None
    durations = sorted((c[1] - c[0]) * 1000 for c in tasks)
    if durations:
        out["task_post_ms_median"] = statistics.median(durations)
        out["task_post_ms_p90"] = durations[int(0.9 * (len(durations) - 1))]
        out["task_post_ms_sum"] = sum(durations) / 1000.0
    return out


def add_budget_figures(out, knobs):
    """Adds ``budget[phase]`` to a worker's output, from its timeline."""
    out["budget"] = {}
    out["budget_knobs"] = list(knobs)
    for phase, calls in (out.get("timeline") or {}).items():
        ph = (out.get("phases") or {}).get(phase)
        if ph:
            out["budget"][phase] = budget_figures(calls, knobs[0], knobs[1], ph["seconds"])


def _print_round(name, out):
    for phase, ph in (out.get("phases") or {}).items():
        if phase == "import":
            continue
        server = (out.get("server") or {}).get(phase) or {}
        b = (out.get("budget") or {}).get(phase) or {}
        log(
            "  %-9s %-16s %7.2f s %5d requests (server: %d, %s 429, over limit %s, peak %s/window)  "
            "phase %s, steady %s of the budget  RSS %5.0f MB (%+.0f)"
            % (
                name,
                phase,
                ph["seconds"],
                ph["requests"],
                server.get("requests", 0),
                (server.get("statuses") or {}).get("429", 0),
                server.get("over_limit"),
                server.get("peak_calls_in_window"),
                fmt(b.get("phase_fraction"), "%.2f"),
                fmt(b.get("steady_fraction"), "%.3f"),
                ph["rss_peak_mb"],
                ph["rss_growth_mb"],
            )
        )
    if out.get("tasks_failed") is not None:
        log(
            "  %-9s tasks created %d, failed %d (first failure at task #%s; %s)"
            % (
                name,
                out.get("tasks_created", 0),
                out["tasks_failed"],
                out.get("first_failure_position"),
                out.get("failure_codes"),
            )
        )
    annotator = out.get("annotator") or {}
    if annotator:
        log(
            "  %-9s (annotator: %d tasks in %.1f s, untimed)"
            % (name, annotator.get("annotated", 0), annotator.get("seconds", 0))
        )


def sdk_version():
    try:
        return (
            subprocess.run(
                [SDK_PYTHON, "-c", "from importlib import metadata; print(metadata.version('fastlabel'))"],
                capture_output=True,
                text=True,
                timeout=60,
            ).stdout.strip()
            or "?"
        )
    except Exception:
        return "?"


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Our FastLabel backend vs the official FastLabel SDK by hand, on the FastLabel emulator under a call budget"
    )
    parser.add_argument("--n", type=int, default=1000, help="images (default 1000)")
    parser.add_argument(
        "--rounds",
        "--repeats",
        dest="rounds",
        type=int,
        default=3,
        help="rounds of each, alternating the order (default 3)",
    )
    parser.add_argument(
        "--max-calls", type=int, default=300, help="the scaled-down budget: calls per window (default 300)"
    )
    parser.add_argument("--window-seconds", type=float, default=10.0, help="the budget window in seconds (default 10)")
    parser.add_argument("--skip-baseline", action="store_true", help="run ours only")
    parser.add_argument(
        "--full-limit",
        action="store_true",
        help="in every round, also run ours with FastLabel's real budget (10,000 calls per 600 s, emulator and client)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="one extra round of ours under cProfile (not in the tables)"
    )
    parser.add_argument("--no-warmup", action="store_true", help="skip the untimed 10-image warm-up round of both")
    parser.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a FastLabelBackendConfig parameter for ours (JSON value), e.g. --config upload_workers=8 (repeatable)",
    )
    parser.add_argument("--keep-datasets", action="store_true")
    parser.add_argument("--results", default=RESULTS_MD, help="the markdown file (default bench/RESULTS.md)")
    parser.add_argument("--no-write", action="store_true", help="print only; do not write RESULTS.md")
    parser.add_argument("--worker", nargs=3, metavar=("MODE", "SPEC", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        return worker_main(*args.worker)

    ours_config = {}
    for item in args.config:
        key, sep, value = item.partition("=")
        if not sep:
            parser.error("--config takes KEY=VALUE, not %r" % item)
        try:
            ours_config[key.strip()] = json.loads(value)
        except ValueError:
            ours_config[key.strip()] = value
    for key in ("max_calls", "window_seconds"):
        if key in ours_config:
            parser.error(
                "set the budget with --max-calls/--window-seconds (emulator and client together), not --config %s" % key
            )

    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    command = "./run bench fastlabel" + (
        "" if not sys.argv[1:] else " " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    )
    started = datetime.datetime.now()
    os.makedirs(OUT_DIR, exist_ok=True)
    if not args.skip_baseline and not os.access(SDK_PYTHON, os.X_OK):
        parser.error(
            "the FastLabel SDK environment is missing: %s (run ./run setup), or use --skip-baseline" % SDK_PYTHON
        )

    info = machine_info()
    info["versions"] = package_versions(("fiftyone", "requests", "Pillow", "psutil"))
    info["versions"]["fastlabel (SDK venv)"] = sdk_version() if not args.skip_baseline else "not run"
    info["git"] = git_state()
    log(
        "machine: %d CPUs (%s), %.1f GB RAM, load %.2f/%.2f/%.2f"
        % (info["nproc"], info["cpu"], info["ram_gb"], *info["loadavg"])
    )

    from bench_common import make_std_images

    log("preparing %d images..." % args.n)
    paths = make_std_images(args.n)
    media_bytes = sum(os.path.getsize(p) for p in paths)
    log("media: %d files, %.1f MB" % (len(paths), media_bytes / MB))

    import fiftyone as fo

    report = {
        "command": command,
        "date": started.isoformat(timespec="seconds"),
        "machine": info,
        "n": args.n,
        "rounds_requested": args.rounds,
        "media_mb": media_bytes / MB,
        "budget": [args.max_calls, args.window_seconds],
        "full_limit": list(FULL_LIMIT) if args.full_limit else None,
        "rounds": {"ours": [], "sdk": [], "sdk_plain": [], "ours_full": []},
        "ours_config_overrides": ours_config,
        "env": {k: os.environ.get(k) for k in ("FIFTYONE_DATABASE_DIR", "FIFTYONE_DATABASE_VALIDATION")},
    }
    emulator = EmulatorProcess(
        "bench-" + secrets.token_hex(12), os.path.join(OUT_DIR, "emulator.log"), args.max_calls, args.window_seconds
    )
    runner = None
    datasets = []
    try:
        log("building the dataset...")
        base = build_dataset("bench_fastlabel_base", paths)
        datasets.append(base.name)
        report["labels_before"] = base.count(FIELD + ".detections")
        report["labels_expected"] = sum(len(expected_boxes(image_index(p))) for p in paths)
        inputs_path = os.path.join(OUT_DIR, "sdk_inputs.json")
        t0 = time.perf_counter()
        inputs = sdk_inputs(base)
        report["sdk_inputs_seconds"] = time.perf_counter() - t0  # what a by-hand script would also pay
        with open(inputs_path, "w") as f:
            json.dump(inputs, f)
        warm_inputs_path = os.path.join(OUT_DIR, "sdk_inputs_warmup.json")
        warm = base[: min(10, len(base))].clone("bench_fastlabel_warm_base")
        datasets.append(warm.name)
        with open(warm_inputs_path, "w") as f:
            json.dump(sdk_inputs(warm), f)

        log(
            "starting the FastLabel emulator (CLI subprocess, %d calls per %g s, enforced)..."
            % (args.max_calls, args.window_seconds)
        )
        t0 = time.perf_counter()
        emulator.start()
        report["emulator"] = {
            "url": emulator.url,
            "command": " ".join(shlex.quote(c) for c in emulator.command).replace(emulator.api_key, "KEY"),
            "start_seconds": time.perf_counter() - t0,
            "pid": emulator.process.pid,
        }
        control = EmulatorControl(emulator.url, emulator.api_key)
        report["emulator"]["knobs"] = control.set_knobs()
        log("FastLabel emulator up at %s (pid %d)" % (emulator.url, emulator.process.pid))
        control.set_knobs(max_calls=None)
        report["emulator"]["probe"] = emulator.probe()
        control.set_knobs(max_calls=args.max_calls, window_seconds=args.window_seconds, enforce_limit=True)
        control.reset_stats()
        log(
            "round trip (GET projects?limit=1): %.1f ms kept-alive, %.1f ms with a new connection each (median)"
            % (report["emulator"]["probe"]["keepalive_ms"], report["emulator"]["probe"]["new_connection_ms"])
        )
        runner = Runner(args, emulator, control)

        if not args.no_warmup:
            log("warm-up (10 images, both, untimed)...")
            out = runner.ours(warm, "warmup", ours_config, breakdown=False)
            report["warmup"] = {"ours": out.get("error") or "ok"}
            if not args.skip_baseline:
                out = runner.sdk(warm_inputs_path, "warmup", "sleep")
                report["warmup"]["sdk"] = out.get("error") or "ok"

        sides = (
            ["ours"] + ([] if args.skip_baseline else ["sdk", "sdk_plain"]) + (["ours_full"] if args.full_limit else [])
        )
        for r in range(1, args.rounds + 1):
            # alternate the order between rounds, so that drift favours no side
            order = sides if r % 2 else list(reversed(sides))
            for side in order:
                log("round %d/%d, %s (fresh subprocess)..." % (r, args.rounds, SIDE_LABELS[side]))
                if side == "ours":
                    out = runner.ours(base, "r%d" % r, ours_config)
                    knobs = runner.budget
                elif side == "ours_full":
                    out = runner.ours(base, "full_r%d" % r, ours_config, knobs=FULL_LIMIT)
                    knobs = FULL_LIMIT
                elif side == "sdk":
                    out = runner.sdk(inputs_path, "r%d" % r, "sleep")
                    knobs = runner.budget
                else:
                    out = runner.sdk(inputs_path, "plain_r%d" % r, "plain")
                    knobs = runner.budget
                out["round"] = r
                add_budget_figures(out, knobs)
                report["rounds"][side].append(out)
                _print_round(side, out)

        if args.profile:
            log("profile round of ours (cProfile; not in the tables)...")
            out = runner.ours(
                base, "profile", ours_config, profile_prefix=os.path.join(OUT_DIR, "profile_ours_"), breakdown=False
            )
            report["profile"] = {
                "error": out.get("error"),
                "seconds": {p: v["seconds"] for p, v in (out.get("phases") or {}).items()},
                "files": "bench/out/fastlabel/profile_ours_{annotate,load}.{cumulative,tottime}.txt",
            }
        report["emulator"]["rss_end_mb"] = emulator.rss_mb()
    finally:
        emulator.stop()
        log("FastLabel emulator stopped")
        if runner is not None:
            datasets.extend(runner.datasets)
        if not args.keep_datasets:
            for name in datasets:
                try:
                    if fo.dataset_exists(name):
                        fo.delete_dataset(name)
                except Exception:
                    pass

    report["finished"] = datetime.datetime.now().isoformat(timespec="seconds")
    report["machine"]["loadavg_end"] = os.getloadavg()
    with open(os.path.join(OUT_DIR, "report.json"), "w") as f:
        json.dump(report, f)
    markdown = render(report)
    print()
    print(markdown)
    if not args.no_write:
        write_section(args.results, "fastlabel", shift_headings(markdown, 1))
        log("wrote the fastlabel section of %s" % args.results)
    failed = [r for rs in report["rounds"].values() for r in rs if r.get("error")]
    return 1 if failed else 0


# ---------------------------------------------------------------------------
# the report
# ---------------------------------------------------------------------------


def _ok(rounds):
    return [r for r in rounds if not r.get("error")]


def _phase(rounds, phase):
    """Median seconds over the rounds (``all_seconds`` lists them), the
    requests of the first round, the largest peak RSS and growth."""
    items = [r["phases"][phase] for r in _ok(rounds) if phase in (r.get("phases") or {})]
    if not items:
        return None
    out = dict(items[0])
    out["all_seconds"] = [i["seconds"] for i in items]
    out["seconds"] = statistics.median(out["all_seconds"])
    out["rss_peak_mb"] = max(i["rss_peak_mb"] for i in items)
    out["rss_growth_mb"] = max(i["rss_growth_mb"] for i in items)
    out["all_requests"] = [i["requests"] for i in items]
    return out


def _server(rounds, phase):
    """The emulator's figures of a phase: the first round's operations and
    statuses, the worst over-limit/peak/429 of every round."""
    items = [r["server"][phase] for r in _ok(rounds) if phase in (r.get("server") or {})]
    if not items:
        return None
    out = dict(items[0])
    out["over_limit_max"] = max(i.get("over_limit", 0) for i in items)
    out["peak_max"] = max(i.get("peak_calls_in_window", 0) for i in items)
    out["all_429"] = [(i.get("statuses") or {}).get("429", 0) for i in items]
    out["all_over_limit"] = [i.get("over_limit", 0) for i in items]
    return out


def _budget(rounds, phase, key):
    """The values of one budget figure over the rounds (``None``s dropped)."""
    return [
        r["budget"][phase][key]
        for r in _ok(rounds)
        if phase in (r.get("budget") or {}) and r["budget"][phase].get(key) is not None
    ]


def _median(values):
    return statistics.median(values) if values else None


def _range_cell(values, pattern="%.2f"):
    if not values:
        return "—"
    if len(values) > 1 and (pattern % min(values)) != (pattern % max(values)):
        return (pattern + " (" + pattern + "–" + pattern + ")") % (statistics.median(values), min(values), max(values))
    return pattern % values[0]


def _breakdown_median(rounds, phase, label):
    values = [s for r in _ok(rounds) for name, s, _ in (r.get("breakdown") or {}).get(phase) or [] if name == label]
    return statistics.median(values) if values else None


def _cpu(rounds, phase, who):
    return _median(
        [r["cpu"][phase][who] for r in _ok(rounds) if (r.get("cpu") or {}).get(phase, {}).get(who) is not None]
    )


def render(report):
    n = report["n"]
    info = report["machine"]
    budget_calls, budget_window = report["budget"]
    budget_rate = budget_calls / float(budget_window)
    ours = report["rounds"].get("ours") or []
    sdk = report["rounds"].get("sdk") or []
    plain = report["rounds"].get("sdk_plain") or []
    full = report["rounds"].get("ours_full") or []
    versions = info.get("versions", {})
    ours_config = next((r.get("config") for r in _ok(ours) if r.get("config")), {}) or {}
    rounds = max(len(ours), len(sdk), len(plain), len(full))
    lines = []
    add = lines.append

    add("# FastLabel: our backend vs the official FastLabel SDK by hand, under a call budget")
    add("")
    add("Produced by `bench/bench_fastlabel.py` (do not edit by hand: re-run it).")
    add("")
    add("- **Command:** `%s`" % report["command"])
    env = " ".join("%s=%s" % (k, v) for k, v in report["env"].items() if v)
    if env:
        add("  (environment: `%s`)" % env)
    add("- **Date:** %s (finished %s)" % (report["date"], report.get("finished", "?")))
    end = info.get("loadavg_end")
    add(
        "- **Machine:** %d CPUs (`nproc`; %s), %.1f GB RAM, load average (1/5/15 min) at start %.2f / %.2f / %.2f%s; %s"
        % (
            info["nproc"],
            info["cpu"],
            info["ram_gb"],
            *info["loadavg"],
            (", at the end %.2f / %.2f / %.2f" % tuple(end)) if end else "",
            info["platform"],
        )
    )
    add("- **Package:** fo-annotation-backends at commit %s" % info.get("git", "?"))
    emu = report.get("emulator") or {}
    add(
        "- **Software:** Python %s, fiftyone %s, requests %s, Pillow %s; the FastLabel emulator of this package "
        "(`python -m fo_annotation_backends.testing.fastlabel --max-calls %d --window-seconds %g`) on 127.0.0.1 in a "
        "process of its own (one Python process, `ThreadingHTTPServer`; it decodes every task image with Pillow); "
        "official FastLabel SDK %s in its own venv (`.cache/fastlabel-sdk-venv`)"
        % (
            info["python"],
            versions.get("fiftyone"),
            versions.get("requests"),
            versions.get("Pillow"),
            budget_calls,
            budget_window,
            versions.get("fastlabel (SDK venv)"),
        )
    )
    add(
        "- **The budget:** FastLabel allows 10,000 API calls per 10 minutes (16.7 calls/s). Scaled down so that it "
        "binds at N=%d: **%d calls per %g s = %.0f calls/s**, enforced by the emulator (a call over it is answered 429 "
        "and counted as `over_limit`). Ours is configured with the same budget (`max_calls=%d, window_seconds=%g`); "
        "its client paces every call (`core/pacing.py` `Pacer.slot()`: a call counts while in flight and from when it "
        "ends). Each round starts with a fresh budget window (the emulator's stats and window are reset)."
        % (n, budget_calls, budget_window, budget_rate, budget_calls, budget_window)
    )
    probe = emu.get("probe") or {}
    if probe:
        add(
            "- **Emulator transport:** a small call (`GET projects?limit=1`) takes %s ms kept-alive and %s ms on a new "
            "connection (median of 30, budget lifted)."
            % (fmt(probe.get("keepalive_ms"), "%.1f"), fmt(probe.get("new_connection_ms"), "%.1f"))
        )
    add(
        "- **Workload:** N=%d generated 640x480 JPEGs (%.1f MB in total; each travels base64-encoded inside its "
        "`POST tasks/image`), %d ground-truth boxes (3-4 per image, classes %s), label schema `%s` on the existing field."
        % (n, report["media_mb"], report.get("labels_before", 0), "/".join(CLASSES), json.dumps(LABEL_SCHEMA))
    )
    overrides = report.get("ours_config_overrides") or {}
    add(
        '- **Ours:** `dataset.annotate(key, backend="fastlabel", label_schema=..., max_calls=%d, window_seconds=%g%s)` '
        "(%s), then `load_annotations()` and `results.cleanup()`."
        % (
            budget_calls,
            budget_window,
            "".join(", %s=%s" % (k, json.dumps(v)) for k, v in overrides.items()),
            ", ".join(
                "`%s=%s`" % (k, ours_config[k])
                for k in ("upload_workers", "max_retries", "timeout")
                if k in ours_config
            ),
        )
    )
    add(
        "- **Baseline:** `bench/fastlabel_sdk_baseline.py`, *what a user would write by hand with the official SDK* "
        "(not a FiftyOne backend; it starts from the paths, image sizes and boxes already in memory: reading them from "
        'FiftyOne took %.2f s, not timed): `fastlabel.Client()`, `create_project(type="image_bbox")`, '
        "`create_annotation` per class, then `create_image_task(project, name, file_path, annotations=[bbox in pixels])` "
        "per image in a loop. The SDK does not pace and does not retry (one `requests.post` per call, a new connection "
        "each; a 429 is raised as `FastLabelInvalidException`), so two variants: **plain loop** (as fast as it goes; a "
        "failed call is recorded and the loop goes on, so the report gives both how far a loop that stops at the first "
        "error gets and how many of the whole list fail; its project is deleted untimed) and **+ fixed sleep** (the same "
        "loop with a naive `time.sleep(window / max_calls)` = %.1f ms before every call but the first of a phase, which "
        "stays under the limit whatever the latency). The fixed-sleep variant then does the download by hand after the "
        "same annotator (`get_image_tasks(project, offset, limit=1000)` until an empty page, the completed tasks' boxes "
        "back to normalised `[x, y, w, h]`; no merge into a FiftyOne dataset) and `delete_project`."
        % (report.get("sdk_inputs_seconds") or 0, 1000.0 * budget_window / budget_calls)
    )
    add(
        "- **Method:** each round of each side runs in a fresh subprocess against the same emulator, %s; %s. Times "
        "are wall time of the call(s). *Requests* = HTTP requests the client sent through `requests.Session.send` "
        "(wrapped, with each one's start, end and status; neither side is modified). *Server* figures come from the "
        "emulator (`/_emulator/stats` read around each phase): 429s, `over_limit` (calls that arrived over the budget) "
        "and `peak_calls_in_window` (the most calls it admitted within any %g s, since the round start or the end of "
        "the annotator). **Achieved fraction of the budget**: accepted calls per second / %.0f, (a) over the whole "
        "phase (wall time; a fresh window lets %d calls through at once, so this can exceed 1) and (b) in *steady "
        "state*: the mean number of accepted calls starting in a sliding %g s window, over every window position from "
        "the first call to %g s before the last one, divided by %d. *Pacing efficiency* = the least time the budget "
        "allows between the first and the last call's start (%g s × floor((calls − 1) / %d)) over the actual time. "
        "Peak RSS = the client subprocess's peak resident set during the phase (the largest over the rounds); ours "
        "includes FiftyOne (~270 MB once loaded), the SDK process does not: compare the growth."
        % (
            "after an untimed 10-image warm-up of ours and of the SDK (fixed sleep)"
            if report.get("warmup")
            else "with no warm-up",
            "%d rounds, the order alternating; times are the median, (min–max) in brackets" % rounds
            if rounds > 1
            else "one round",
            budget_window,
            budget_rate,
            budget_calls,
            budget_window,
            budget_window,
            budget_calls,
            budget_window,
            budget_calls,
        )
    )
    add(
        "- Between the upload and the download the parent plays the annotator in FastLabel's web editor "
        '(`FastLabelAnnotator`, 4 threads: `task()`, then `submit(..., status="completed")`; edited boxes keep their '
        "ids): keep every box (image i%3==0), move the first box 5% of the width right (i%3==1), delete the last box "
        "(i%3==2), as in the other benches. Not timed, not counted; the web editor's calls are not API calls, so the "
        "emulator's budget is lifted while it works and restored with a fresh window afterwards."
    )
    add("")

    # --- the budget -----------------------------------------------------------------------
    add(
        "## The budget: %d calls per %g s (%.0f calls/s), N=%d%s"
        % (budget_calls, budget_window, budget_rate, n, ", median of %d rounds" % rounds if rounds > 1 else "")
    )
    add("")
    verdict = []
    steady = _budget(ours, "annotate", "steady_fraction")
    over = [(_server([r], p) or {}).get("over_limit", 0) for r in _ok(ours) for p in OURS_PHASES]
    c429 = [((_server([r], p) or {}).get("statuses") or {}).get("429", 0) for r in _ok(ours) for p in OURS_PHASES]
    if steady:
        verdict.append(
            "**Ours, `annotate()`: %.3f of the budget in steady state (worst round %.3f; target ≥ 0.9: %s), %.2f over "
            "the whole phase; calls over the budget seen by the emulator: %d, 429s: %d in %d round%s (target 0: %s).**"
            % (
                statistics.median(steady),
                min(steady),
                "met" if min(steady) >= 0.9 else "NOT MET",
                _median(_budget(ours, "annotate", "phase_fraction")) or 0,
                sum(over),
                sum(c429),
                len(_ok(ours)),
                "" if len(_ok(ours)) == 1 else "s",
                "met" if not sum(over) and not sum(c429) else "NOT MET",
            )
        )
    sdk_steady = _budget(sdk, "upload", "steady_fraction")
    if sdk_steady:
        verdict.append(
            "The SDK with a fixed sleep reaches %.3f in steady state (its sleep adds to each call's latency) and "
            "takes %s s to upload, ours %s s."
            % (
                statistics.median(sdk_steady),
                fmt((_phase(sdk, "upload") or {}).get("seconds"), "%.1f"),
                fmt((_phase(ours, "annotate") or {}).get("seconds"), "%.1f"),
            )
        )
    firsts = [r.get("first_failure_position") for r in _ok(plain)]
    if plain and _ok(plain):
        verdict.append(
            "The SDK's plain loop gets a 429 at task #%s (median; a loop that stops at the first error has created that "
            "many tasks out of %d); going on regardless, %s of %d tasks fail."
            % (
                fmt(_median([f for f in firsts if f is not None]), "%d"),
                n,
                _range_cell([r.get("tasks_failed", 0) for r in _ok(plain)], "%d"),
                n,
            )
        )
    if verdict:
        add(" ".join(verdict))
        add("")
    add(
        "| run | phase | time (s) | API calls | accepted | 429s | over the budget (emulator) | peak calls in a %g s window (emulator) "
        "| accepted calls/s over the phase | fraction of the budget: whole phase | fraction: steady state | pacing efficiency |"
        % budget_window
    )
    add("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    table = [("ours", ours, OURS_PHASES[1:]), ("sdk", sdk, SDK_PHASES[1:]), ("sdk_plain", plain, ("upload",))]
    for side, rs, phases in table:
        for phase in phases:
            ph = _phase(rs, phase)
            if not ph:
                continue
            s = _server(rs, phase) or {}
            steady_values = _budget(rs, phase, "steady_fraction")
            calls = _budget(rs, phase, "calls")
            binding = bool(calls) and max(calls) > budget_calls
            refused = rs is plain
            add(
                "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |"
                % (
                    SIDE_LABELS[side],
                    phase,
                    time_cell(ph),
                    _range_cell(calls, "%d"),
                    _range_cell(_budget(rs, phase, "accepted"), "%d"),
                    ", ".join(str(v) for v in s.get("all_429", [])) or "—",
                    ", ".join(str(v) for v in s.get("all_over_limit", [])) or "—",
                    fmt(s.get("peak_max"), "%d"),
                    _range_cell(_budget(rs, phase, "phase_rate"), "%.1f") if binding else "—",
                    "— (most calls refused)"
                    if refused
                    else (
                        _range_cell(_budget(rs, phase, "phase_fraction"), "%.2f")
                        if binding
                        else "not binding (%s call(s))" % fmt(_median(calls), "%d")
                    ),
                    ("**%s**" % _range_cell(steady_values, "%.3f")) if steady_values else "—",
                    _range_cell(_budget(rs, phase, "pacing_efficiency"), "%.3f") if binding and not refused else "—",
                )
            )
    add("")
    add(
        "429s and over-the-budget counts are per round (in the order run). *Peak* is the worst round; it can only "
        "reach %d (calls over it are refused, and counted as over the budget). The least time the budget allows "
        "between the first and the last call's start of the upload: %s s for %s calls (pacing efficiency = that over "
        "the actual time; it takes each window's calls as sent instantaneously, so it is below 1 by the time the "
        "last, partial window's calls take to send: see *Where ours spends its time*)."
        % (
            budget_calls,
            fmt(_median(_budget(ours, "annotate", "lower_bound")), "%.0f"),
            fmt(_median(_budget(ours, "annotate", "accepted")), "%d"),
        )
    )
    add("")

    # --- times -------------------------------------------------------------------------------
    add("## Time, requests and memory, side by side")
    add("")
    rows = [
        ("import modules (informational)", "import", "import", "import"),
        ("`annotate()` / upload", "annotate", "upload", "upload"),
        ("`load_annotations()` / download", "load_annotations", "download", None),
        ("`results.cleanup()` / `delete_project`", "cleanup", "cleanup", None),
    ]
    add(
        "| phase (ours / baseline) | ours time (s) | SDK + sleep time (s) | ours / SDK + sleep | SDK plain loop time (s) "
        "| requests ours | requests SDK + sleep | requests SDK plain | peak RSS ours (MB) | peak RSS SDK + sleep (MB) "
        "| RSS growth ours (MB) | RSS growth SDK + sleep (MB) |"
    )
    add("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, po_name, ps_name, pp_name in rows:
        po, ps = _phase(ours, po_name), _phase(sdk, ps_name)
        pp = _phase(plain, pp_name) if pp_name else None
        ratio = po["seconds"] / ps["seconds"] if (po and ps and ps["seconds"]) else None
        add(
            "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |"
            % (
                label,
                time_cell(po),
                time_cell(ps),
                fmt(ratio, "%.2fx"),
                time_cell(pp)
                + (
                    " (with %s× 429)" % _range_cell([r.get("tasks_failed", 0) for r in _ok(plain)], "%d")
                    if pp and po_name == "annotate"
                    else ""
                ),
                fmt(po and po["requests"], "%d"),
                fmt(ps and ps["requests"], "%d"),
                fmt(pp and pp["requests"], "%d"),
                fmt(po and po["rss_peak_mb"], "%.0f"),
                fmt(ps and ps["rss_peak_mb"], "%.0f"),
                fmt(po and po["rss_growth_mb"], "%+.0f"),
                fmt(ps and ps["rss_growth_mb"], "%+.0f"),
            )
        )
    add("")
    backend_part = _breakdown_median(ours, "load_annotations", "download_annotations (backend)")
    pd = _phase(sdk, "download")
    if backend_part is not None and pd:
        add(
            "`load_annotations()` is FiftyOne's whole call: the backend's part (`download_annotations()`: the calls, "
            "reading the current labels, building FiftyOne labels) took %.2f s (median), %.2fx the SDK's download; the "
            "rest is FiftyOne merging the labels into the dataset, which the baseline does not do."
            % (backend_part, backend_part / pd["seconds"])
        )
        add("")
    if rounds > 1:
        add("Per round (seconds, in the order run):")
        add("")
        add("| phase | ours | SDK + sleep | SDK plain loop | ours, full limit |")
        add("|---|---|---|---|---|")
        for po_name, ps_name in (("annotate", "upload"), ("load_annotations", "download"), ("cleanup", "cleanup")):
            cells = []
            for rs, name in ((ours, po_name), (sdk, ps_name), (plain, ps_name), (full, po_name)):
                ph = _phase(rs, name)
                cells.append(", ".join("%.2f" % v for v in ph["all_seconds"]) if ph else "—")
            add("| %s / %s | %s |" % (po_name, ps_name, " | ".join(cells)))
        add("")

    # --- full limit --------------------------------------------------------------------------
    if full:
        fl_calls, fl_window = report.get("full_limit") or FULL_LIMIT
        add("## Ours with FastLabel's real budget (`--full-limit`: %d calls per %g s)" % (fl_calls, fl_window))
        add("")
        add(
            "Ours again in every round (fresh subprocess, same config but `max_calls=%d, window_seconds=%g`, the "
            "emulator enforcing the same): at N=%d (%s calls, fewer than a window's %d) the budget never makes the "
            "client wait, so this is the upload speed the transport, the emulator and the client allow, i.e. what "
            "the scaled-down budget throttles. With FastLabel's real budget a run goes at this speed for its first "
            "%d calls in any 10 minutes, then at most %.1f calls/s (about %.0f samples per minute)."
            % (
                fl_calls,
                fl_window,
                n,
                fmt(_median(_budget(full, "annotate", "accepted")), "%d"),
                fl_calls,
                fl_calls,
                fl_calls / float(fl_window),
                60.0 * fl_calls / float(fl_window),
            )
        )
        add("")
        add(
            "| phase | time (s), full limit | time (s), %d per %g s | API calls | calls/s over the phase | calls/s between the first and last call | 429s | over the budget | peak RSS (MB) | RSS growth (MB) |"
            % (budget_calls, budget_window)
        )
        add("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for phase in OURS_PHASES[1:]:
            pf, pb, sf = _phase(full, phase), _phase(ours, phase), _server(full, phase) or {}
            if not pf:
                continue
            add(
                "| %s | %s | %s | %s | %s | %s | %s | %s | %.0f | %+.0f |"
                % (
                    phase,
                    time_cell(pf),
                    time_cell(pb),
                    _range_cell(_budget(full, phase, "calls"), "%d"),
                    _range_cell(_budget(full, phase, "phase_rate"), "%.1f") if phase == "annotate" else "—",
                    _range_cell(_budget(full, phase, "span_rate"), "%.1f") if phase == "annotate" else "—",
                    ", ".join(str(v) for v in sf.get("all_429", [])) or "—",
                    ", ".join(str(v) for v in sf.get("all_over_limit", [])) or "—",
                    pf["rss_peak_mb"],
                    pf["rss_growth_mb"],
                )
            )
        add("")

    # --- requests per 1000 ---------------------------------------------------------------
    add("## Requests per 1,000 samples")
    add("")
    scale = 1000.0 / n if n else 0
    add("| phase | ours | SDK + sleep | SDK plain loop (429s included) |")
    add("|---|---:|---:|---:|")
    for label, po_name, ps_name in (
        ("`annotate()` / upload", "annotate", "upload"),
        ("`load_annotations()` / download", "load_annotations", "download"),
        ("cleanup", "cleanup", "cleanup"),
    ):
        po, ps, pp = _phase(ours, po_name), _phase(sdk, ps_name), _phase(plain, ps_name)
        add(
            "| %s | %s | %s | %s |"
            % (
                label,
                fmt(po and po["requests"] * scale, "%.0f"),
                fmt(ps and ps["requests"] * scale, "%.0f"),
                fmt(pp and pp["requests"] * scale, "%.0f"),
            )
        )
    add("")
    varied = []
    for side, rs, phases in (
        ("ours", ours, OURS_PHASES),
        ("SDK + sleep", sdk, SDK_PHASES),
        ("SDK plain", plain, SDK_PHASES),
    ):
        for phase in phases[1:]:
            ph = _phase(rs, phase)
            if ph and len(set(ph["all_requests"])) > 1:
                varied.append("%s %s: %s" % (side, phase, ", ".join(str(v) for v in ph["all_requests"])))
    add(
        "Request counts are those of the first round; %s."
        % ("they were the same in every round" if not varied else "they varied: " + "; ".join(varied))
    )
    add("")

    # --- per operation on the server -----------------------------------------------------------
    add("## Operations per phase, on the server (first round)")
    add("")
    columns = [
        ("ours annotate", ours, "annotate"),
        ("SDK + sleep upload", sdk, "upload"),
        ("SDK plain upload", plain, "upload"),
        ("ours load", ours, "load_annotations"),
        ("SDK + sleep download", sdk, "download"),
        ("ours cleanup", ours, "cleanup"),
        ("SDK + sleep cleanup", sdk, "cleanup"),
    ]
    columns = [c for c in columns if _server(c[1], c[2])]
    ops = collections.OrderedDict()
    for _, rs, phase in columns:
        for op in _server(rs, phase).get("operations") or {}:
            ops[op] = True
    if columns:
        add("| operation | %s |" % " | ".join(c[0] for c in columns))
        add("|---|%s|" % "|".join("---:" for _ in columns))
        for op in sorted(ops):
            add(
                "| `%s` | %s |"
                % (
                    op,
                    " | ".join(
                        str((_server(rs, phase).get("operations") or {}).get(op, "")) for _, rs, phase in columns
                    ),
                )
            )
        add(
            "| **HTTP statuses** | %s |"
            % " | ".join(
                ", ".join("%s×%s" % (v, k) for k, v in sorted((_server(rs, phase).get("statuses") or {}).items()))
                for _, rs, phase in columns
            )
        )
        add("")

    # --- sanity ----------------------------------------------------------------------------------
    add("## Sanity")
    add("")
    add(
        "- labels before: %s; expected after the annotator's edits: %s; after the download: ours **%s**, SDK + sleep "
        "**%s**%s (per round)"
        % (
            report.get("labels_before"),
            report.get("labels_expected"),
            ", ".join(str(r.get("labels_after_load")) for r in _ok(ours)) or "—",
            ", ".join(str(r.get("labels_after_load")) for r in _ok(sdk)) or "—",
            (", ours with the full limit **%s**" % ", ".join(str(r.get("labels_after_load")) for r in _ok(full)))
            if full
            else "",
        )
    )
    indices = list(range(n))
    for side, rs in (("ours", ours), ("SDK + sleep", sdk), ("SDK plain loop", plain), ("ours, full limit", full)):
        for r in rs:
            if r.get("error"):
                add("- **%s, round %s FAILED:** `%s`" % (side, r.get("round"), r["error"]))
                continue
            if rs is plain:
                add(
                    "- %s, round %s: %d tasks created, %d failed (%s), first failure at task #%s; no annotator, no download"
                    % (
                        side,
                        r.get("round"),
                        r.get("tasks_created", 0),
                        r.get("tasks_failed", 0),
                        ", ".join("%s× HTTP %s" % (v, k) for k, v in sorted((r.get("failure_codes") or {}).items()))
                        or "none",
                        r.get("first_failure_position"),
                    )
                )
                continue
            good, bad = check_summary(r.get("summary") or {}, indices)
            annotator = r.get("annotator") or {}
            extra = ""
            if "ids_new" in r:
                extra = "; label ids: %d kept, %d new (expected: all kept, none new)" % (
                    r.get("ids_kept", 0),
                    r.get("ids_new", 0),
                )
            add(
                "- %s, round %s: %d tasks uploaded, %d submitted by the annotator (%.1f s, %d annotation ids kept by the "
                "editor); images whose boxes equal the expected edits (class, box within 2e-4): **%d / %d**%s%s"
                % (
                    side,
                    r.get("round"),
                    r.get("assets", 0),
                    annotator.get("annotated", 0),
                    annotator.get("seconds", 0),
                    annotator.get("annotation_ids_kept", 0),
                    good,
                    n,
                    (" (differ: %s)" % ", ".join(str(b) for b in bad[:10])) if bad else "",
                    extra,
                )
            )
    add("")

    # --- where the time goes -----------------------------------------------------------------------
    if any(r.get("breakdown") for r in _ok(ours)):
        add("## Where ours spends its time")
        add("")
        po = _phase(ours, "annotate")
        first = _median(_budget(ours, "annotate", "first_start"))
        last_end = _median(_budget(ours, "annotate", "last_end"))
        if po and first is not None and last_end is not None:
            boundaries = [
                r["budget"]["annotate"].get("window_starts") or []
                for r in _ok(ours)
                if "annotate" in (r.get("budget") or {})
            ]
            columns = list(zip(*boundaries)) if boundaries else []
            accepted = _median(_budget(ours, "annotate", "accepted")) or 0
            add(
                "`annotate()` under the budget (median %.2f s) = %.2f s before the first API call (FiftyOne's schema "
                "validation, checking the files) + %.2f s from the first call to the end of the last + %.2f s after it "
                "(FiftyOne saving the run). A fresh window lets the first %d calls go at once; each later call may "
                "start %g s after the end of the call it replaces, so every window's calls replay the first window's "
                "pattern. Calls %s started %s s after the first (median of the rounds; the budget allows %s s after "
                "the *ends* of the calls they replace): at the window boundaries the pacer loses milliseconds. Over all "
                "calls, a call started %s ms (median; mean %s ms) after the moment the budget allowed it: within a "
                "window the client sends at its own burst speed (below). The last, partial window's %d calls took %s s, "
                "which the lower bound (%s s for %d calls, each window's calls taken as sent instantaneously) leaves "
                "out: %s s of it is the gap between the set-up calls (credentials, project, classes) and the first task "
                "in the first window (reading the label fields with one FiftyOne `values()` and converting every "
                "sample's labels before the first task is sent): every later window replays it, so it delays the end "
                "once; the rest is sending the last tasks at burst speed and the read-back (two `GET tasks/image`). A task `POST` "
                "takes %s ms (median; p90 %s ms) on the client, 4 in flight; CPU during the phase: client %s s, "
                "emulator %s s (%d CPUs: %.0f CPU-seconds available): CPU is not what limits it."
                % (
                    po["seconds"],
                    first,
                    last_end - first,
                    po["seconds"] - last_end,
                    budget_calls,
                    budget_window,
                    ", ".join("#%d" % (budget_calls * (k + 1) + 1) for k in range(len(columns))) or "—",
                    ", ".join("%.3f" % statistics.median(c) for c in columns) or "—",
                    ", ".join("%g" % (budget_window * (k + 1)) for k in range(len(columns))) or "—",
                    fmt(_median(_budget(ours, "annotate", "pacer_delay_ms_median")), "%.0f"),
                    fmt(_median(_budget(ours, "annotate", "pacer_delay_ms_mean")), "%.0f"),
                    int(accepted - (accepted - 1) // budget_calls * budget_calls) if accepted else 0,
                    fmt(_median(_budget(ours, "annotate", "last_window_seconds")), "%.2f"),
                    fmt(_median(_budget(ours, "annotate", "lower_bound")), "%.0f"),
                    accepted,
                    fmt(_median(_budget(ours, "annotate", "first_task_gap")), "%.2f"),
                    fmt(_median(_budget(ours, "annotate", "task_post_ms_median")), "%.1f"),
                    fmt(_median(_budget(ours, "annotate", "task_post_ms_p90")), "%.1f"),
                    fmt(_cpu(ours, "annotate", "client"), "%.1f"),
                    fmt(_cpu(ours, "annotate", "emulator"), "%.1f"),
                    info.get("nproc") or 1,
                    (info.get("nproc") or 1) * po["seconds"],
                )
            )
            add("")
        pf = _phase(full, "annotate")
        if pf:
            add(
                "With the full limit (no wait) the same upload takes %.2f s: the %s accepted calls go at %s calls/s "
                "between the first and the last (task `POST` %s ms median, p90 %s ms; CPU: client %s s, emulator %s s). "
                "That is the ceiling the client reaches in a burst, %.1fx the scaled-down budget's %.0f calls/s, so the "
                "budget, not the client, sets the pace under it."
                % (
                    pf["seconds"],
                    fmt(_median(_budget(full, "annotate", "accepted")), "%d"),
                    fmt(_median(_budget(full, "annotate", "span_rate")), "%.0f"),
                    fmt(_median(_budget(full, "annotate", "task_post_ms_median")), "%.1f"),
                    fmt(_median(_budget(full, "annotate", "task_post_ms_p90")), "%.1f"),
                    fmt(_cpu(full, "annotate", "client"), "%.1f"),
                    fmt(_cpu(full, "annotate", "emulator"), "%.1f"),
                    (_median(_budget(full, "annotate", "span_rate")) or 0) / budget_rate,
                    budget_rate,
                )
            )
            add("")
        ps = _phase(sdk, "upload")
        if ps:
            add(
                "The SDK + sleep upload: %s calls, %.1f s of it sleeping, a task `POST` %s ms (median, a new "
                "connection each): %.1f ms per call in all against the budget's %.1f ms, hence its steady-state "
                "fraction."
                % (
                    fmt(_median(_budget(sdk, "upload", "accepted")), "%d"),
                    _median([r.get("slept_seconds", 0) for r in _ok(sdk)]) or 0,
                    fmt(_median(_budget(sdk, "upload", "task_post_ms_median")), "%.1f"),
                    1000.0 * ps["seconds"] / max(1, _median(_budget(sdk, "upload", "accepted")) or 1),
                    1000.0 / budget_rate,
                )
            )
            add("")
        add(
            "Wall time inside named functions during each phase of ours under the budget (median over the rounds), "
            "taken by wrapping them in the worker (no profiler; ↳ entries are part of the entry above them; what is "
            "left of a phase is FiftyOne's own bookkeeping; calls made from several threads at once add up their "
            'durations, so they can exceed the phase; the "every API call" rows overlap the rows above them).'
        )
        add("")
        for phase in ("annotate", "load_annotations", "cleanup"):
            ph = _phase(ours, phase)
            if not ph:
                continue
            add(
                "**%s** (whole phase %.2f s; CPU: client %s s, emulator %s s)"
                % (
                    phase,
                    ph["seconds"],
                    fmt(_cpu(ours, phase, "client"), "%.2f"),
                    fmt(_cpu(ours, phase, "emulator"), "%.2f"),
                )
            )
            add("")
            add("| step | seconds | calls |")
            add("|---|---:|---:|")
            per_label = collections.OrderedDict()
            for r in _ok(ours):
                for label, seconds, calls in (r.get("breakdown") or {}).get(phase) or []:
                    per_label.setdefault(label, []).append((seconds, calls))
            for label, values in per_label.items():
                shown = "&nbsp;&nbsp;↳ " + label.strip().lstrip("↳ ").strip() if label.startswith("  ") else label
                add("| %s | %.2f | %d |" % (shown, statistics.median(v[0] for v in values), values[0][1]))
            add("")

    add(
        "MB = 2^20 bytes. Raw figures (per round: every request's start, end and status, per endpoint, RSS at phase start, CPU): `bench/out/fastlabel/report.json` (not committed)."
    )
    add("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
