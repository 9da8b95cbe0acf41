"""Benchmark: FiftyOne's built-in Label Studio backend vs ours, side by side.

One run starts ONE local Label Studio server of its own (data dir
``.cache/bench-ls-data``, local-files serving OFF, so both backends really
upload the media), builds a dataset of generated images with 3-4 ground-truth
boxes each, and then, for each backend in a fresh subprocess of this script
(so that peak RSS is per backend), measures:

- ``import``: importing the backend's modules (informational);
- ``annotate()``: wall time, HTTP requests, peak client RSS;
- a simulated annotator submits every task (keep / move a box / delete a box,
  the same edits for both backends; NOT timed, NOT counted);
- ``load_annotations()``: wall time, HTTP requests, peak client RSS;
- ``results.cleanup()``: wall time, HTTP requests, peak client RSS (the
  built-in deletes tasks one by one; ``--cleanup-limit K`` times it on K
  tasks only and extrapolates, and says so).

HTTP requests are counted without touching either backend: the subprocess
wraps ``requests.Session.send`` and ``httpx.Client.send``. RSS is sampled by
a psutil thread every 20 ms.

Then a memory scaling check of OUR backend alone: ``annotate()`` uploading
~100 MB and ~1 GB of incompressible PNGs (each in a fresh subprocess).

Figures are printed and written to the ``labelstudio`` section of
``bench/RESULTS.md`` (between its marker comments; the other sections are
left as they are); raw JSON goes to ``bench/out/``.

    ./run bench labelstudio [--n 1000] [--cleanup-limit K] [--skip-memory]
"""

import argparse
import collections
import datetime
import json
import os
import shlex
import shutil
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

# the helpers shared with bench_kili.py (measurement, workload, report)
from bench_common import (  # noqa: E402
    CACHE,
    CLASSES,
    FIELD,
    LABEL_SCHEMA,
    MB,
    OUT_DIR,
    RESULTS_MD,
    Breakdown,
    Meter,
    build_dataset,
    fmt as _fmt,
    git_state,
    image_index as _image_index,
    labels_summary as _labels_summary,
    log,
    machine_info,
    make_std_images,
    max_rss_mb as _max_rss_mb,
    package_versions as _package_versions,
    shift_headings,
    time_cell as _time_cell,
    write_section,
)

BACKENDS = {
    "builtin_ls": {
        "title": "built-in",
        "config_cls": "fiftyone.utils.labelstudio.LabelStudioBackendConfig",
        "modules": ["fiftyone.utils.labelstudio", "label_studio_sdk"],
    },
    "ours_ls": {
        "title": "ours",
        "config_cls": "fo_annotation_backends.labelstudio.LabelStudioBackendConfig",
        "modules": ["fo_annotation_backends.labelstudio"],
    },
}

PHASES = ("import", "annotate", "load_annotations", "cleanup")


def _register_backends(url, token):
    import fiftyone as fo

    for name, info in BACKENDS.items():
        fo.annotation_config.backends[name] = {"config_cls": info["config_cls"], "url": url, "api_key": token}


# ---------------------------------------------------------------------------
# the simulated annotator (same edits for both backends)
# ---------------------------------------------------------------------------


def edit_result(index, result):
    """The edit of image ``index``: keep (i%3==0), move the first box 5% to
    the right (i%3==1), delete the last box (i%3==2)."""
    boxes = [r for r in result if r.get("type") == "rectanglelabels"]
    if index % 3 == 1 and boxes:
        value = boxes[0]["value"]
        value["x"] = min(value["x"] + 5.0, 100.0 - value["width"])
    elif index % 3 == 2 and boxes:
        last = boxes[-1]
        result = [r for r in result if r is not last]
    return result


def run_annotator(url, token, task_to_index, threads, deadline):
    """Submits an annotation for every task; returns the number submitted."""
    from concurrent.futures import ThreadPoolExecutor

    import requests

    from fo_annotation_backends.testing.labelstudio_annotator import LabelStudioAnnotator

    local = threading.local()

    def annotate_one(item):
        task_id, index = item
        if not hasattr(local, "annotator"):
            local.annotator = LabelStudioAnnotator(url, token)
        last_error = None
        for attempt in range(4):
            if time.monotonic() > deadline:
                raise TimeoutError("annotator deadline passed")
            try:
                result = edit_result(index, local.annotator.prefilled_result(task_id))
                local.annotator.submit(task_id, result)
                return 1
            except requests.RequestException as e:  # e.g. a busy sqlite: try again
                last_error = e
                time.sleep(1.0 + attempt)
        raise RuntimeError("task %s: annotator failed: %s" % (task_id, last_error))

    items = sorted(task_to_index.items())
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        return sum(pool.map(annotate_one, items))


# ---------------------------------------------------------------------------
# where the time goes: wall time of a few named functions, per phase, taken
# by wrapping them in the worker (no profiler overhead; nested entries overlap)
# ---------------------------------------------------------------------------

FO_ANNOTATIONS = "fiftyone.utils.annotations"
BUILTIN = "fiftyone.utils.labelstudio"
OURS_BACKEND = "fo_annotation_backends.labelstudio.backend"
OURS_UPLOAD = "fo_annotation_backends.labelstudio.upload"
OURS_DOWNLOAD = "fo_annotation_backends.core.download"
OURS_CLIENT = "fo_annotation_backends.labelstudio.client"

BREAKDOWN = {
    "builtin_ls": [
        (FO_ANNOTATIONS, "_build_label_schema", "FiftyOne: validate the label schema"),
        (BUILTIN, "LabelStudioAnnotationAPI._setup", "connect (check_connection + version)"),
        (BUILTIN, "LabelStudioAnnotationAPI._init_project", "list + create project"),
        (BUILTIN, "LabelStudioAnnotationAPI._prepare_tasks", "build tasks + predictions (reads samples)"),
        (BUILTIN, "LabelStudioAnnotationAPI._upload_tasks", "upload files + reimport + list tasks + predictions"),
        (BUILTIN, "LabelStudioAnnotationAPI.download_annotations", "download_annotations (backend)"),
        (BUILTIN, "LabelStudioAnnotationAPI._get_matched_labeled_tasks", "  fetch tasks (paginated)"),
        (BUILTIN, "LabelStudioAnnotationAPI._import_annotations", "  convert results to labels"),
        (FO_ANNOTATIONS, "_merge_labels", "FiftyOne: merge labels into the dataset"),
        (BUILTIN, "LabelStudioAnnotationAPI.delete_tasks", "DELETE each task"),
        (BUILTIN, "LabelStudioAnnotationAPI.delete_project", "DELETE project"),
    ],
    "ours_ls": [
        (FO_ANNOTATIONS, "_build_label_schema", "FiftyOne: validate the label schema"),
        (OURS_UPLOAD, "normalize_label_schema", "normalize schema"),
        (OURS_UPLOAD, "check_image_media", "check media files"),
        (OURS_CLIENT, "LabelStudioClient.__init__", "create client"),
        (OURS_CLIENT, "LabelStudioClient.check_credentials", "check credentials (health + whoami)"),
        (OURS_UPLOAD, "Uploader._resolve_project", "find + create project"),
        (OURS_UPLOAD, "_Media.__init__", "media: local-files check"),
        (OURS_UPLOAD, "_Media._upload", "media: upload"),
        (OURS_CLIENT, "LabelStudioClient.upload_files", "  upload files (+ file-uploads lookup)"),
        (OURS_UPLOAD, "Uploader._send_tasks", "build + import tasks with predictions"),
        (OURS_UPLOAD, "field_values", "  read label fields (FiftyOne values())"),
        (OURS_UPLOAD, "labels_to_results", "  convert labels to results"),
        (OURS_CLIENT, "LabelStudioClient.import_tasks", "  POST tasks"),
        (OURS_BACKEND, "LabelStudioBackend.download_annotations", "download_annotations (backend)"),
        (OURS_CLIENT, "LabelStudioClient.export_tasks", "  export tasks (1 request + JSON decode)"),
        (OURS_DOWNLOAD, "load_current_labels", "  read current labels (FiftyOne values())"),
        (OURS_BACKEND, "results_to_labels", "  convert results to labels"),
        (FO_ANNOTATIONS, "_merge_labels", "FiftyOne: merge labels into the dataset"),
        (OURS_CLIENT, "LabelStudioClient.delete_project", "DELETE project"),
    ],
}


# ---------------------------------------------------------------------------
# worker subprocesses
# ---------------------------------------------------------------------------


def worker_round(spec, out):
    """One backend: import, annotate, annotator, load, cleanup."""
    meter = Meter()
    out.update(backend=spec["backend"], phases=meter.phases)
    try:
        import importlib

        import fiftyone as fo

        _register_backends(spec["url"], spec["token"])
        dataset = fo.load_dataset(spec["dataset"])
        dataset.count()  # connect before measuring
        name = spec["backend"]
        profile = spec.get("profile_prefix")

        def do_import():
            for module in BACKENDS[name]["modules"]:
                importlib.import_module(module)
            if name == "builtin_ls":
                import label_studio_sdk

                label_studio_sdk.Client  # noqa: B018 -- what the built-in uses (legacy client)

        meter.measure("import", do_import)
        breakdown = Breakdown(meter)
        breakdown.install(BREAKDOWN[name])
        out["breakdown"] = breakdown.times  # filled in below

        anno_key = "bench_%s_%d" % (name, int(time.time()))
        results = meter.measure(
            "annotate",
            lambda: dataset.annotate(anno_key, backend=name, label_schema=LABEL_SCHEMA),
            profile_path=(profile + "annotate") if profile else None,
        )
        out["project_id"] = results.project_id
        out["tasks"] = len(results.uploaded_tasks)

        # the annotator: not timed, not counted
        paths = dict(zip(*dataset.values(["id", "filepath"])))
        task_to_index = {int(t): _image_index(paths[s]) for t, s in results.uploaded_tasks.items()}
        t0 = time.perf_counter()
        out["annotated_tasks"] = run_annotator(
            spec["url"],
            spec["token"],
            task_to_index,
            spec["annotator_threads"],
            time.monotonic() + spec["annotator_timeout"],
        )
        out["annotator_seconds"] = time.perf_counter() - t0

        meter.measure(
            "load_annotations",
            lambda: dataset.load_annotations(anno_key),
            profile_path=(profile + "load") if profile else None,
        )
        out["labels_after_load"] = dataset.count(FIELD + ".detections")
        out["summary"] = _labels_summary(dataset)

        limit = spec.get("cleanup_limit")
        total_tasks = len(results.uploaded_tasks)
        out["cleanup_tasks_total"] = total_tasks
        if not spec.get("time_cleanup", True):
            # a repeat round: remove the project untimed and uncounted (one
            # project DELETE leaves the server as the backend's cleanup would)
            import requests

            requests.delete(
                "%s/api/projects/%d" % (spec["url"], results.project_id),
                headers={"Authorization": "Token %s" % spec["token"]},
                timeout=600,
            ).raise_for_status()
            out["cleanup_untimed"] = True
        elif name == "builtin_ls" and limit and limit < total_tasks:
            # time the one-DELETE-per-task cleanup on a subset (the project
            # DELETE at the end removes the remaining tasks in one request)
            results.uploaded_tasks = dict(list(results.uploaded_tasks.items())[:limit])
            out["cleanup_subset"] = limit
        if not out.get("cleanup_untimed"):
            meter.measure("cleanup", results.cleanup)
        out["label_schema"] = json.loads(json.dumps(results.config.label_schema, default=str))
        _forget_run(dataset, anno_key)
    finally:
        meter.stop()
        if "breakdown" in out:
            out["breakdown"] = breakdown.as_dict()
            out["breakdown_missing"] = breakdown.missing


def worker_memory(spec, out):
    """Our backend only: annotate() uploading big files; peak client RSS."""
    meter = Meter()
    out.update(backend="ours_ls", phases=meter.phases, files=spec["files"], bytes=spec["bytes"])
    try:
        import fiftyone as fo

        _register_backends(spec["url"], spec["token"])
        dataset = fo.load_dataset(spec["dataset"])
        dataset.count()
        meter.measure("import", lambda: __import__("fo_annotation_backends.labelstudio"))
        anno_key = "bench_mem_%d" % int(time.time())
        results = meter.measure(
            "annotate", lambda: dataset.annotate(anno_key, backend="ours_ls", label_schema=LABEL_SCHEMA)
        )
        out["project_id"] = results.project_id
        out["tasks"] = len(results.uploaded_tasks)
        meter.measure("cleanup", results.cleanup)
        _forget_run(dataset, anno_key)
    finally:
        meter.stop()


def worker_warmup(spec, out):
    """A small untimed round of both backends (server-side warm-up)."""
    import fiftyone as fo

    _register_backends(spec["url"], spec["token"])
    dataset = fo.load_dataset(spec["dataset"])
    for name in spec["backends"]:
        key = "warmup_%s_%d" % (name, int(time.time()))
        results = dataset.annotate(key, backend=name, label_schema=LABEL_SCHEMA)
        dataset.load_annotations(key)
        results.cleanup()
        dataset.delete_annotation_run(key)
        out[name] = "ok"


def _forget_run(dataset, anno_key):
    try:
        dataset.delete_annotation_run(anno_key)
    except Exception:
        pass


def worker_main(mode, spec_path, out_path):
    with open(spec_path) as f:
        spec = json.load(f)
    func = {"round": worker_round, "memory": worker_memory, "warmup": worker_warmup}[mode]
    out = {}
    try:
        func(spec, out)
    except BaseException as e:
        out["error"] = "%s: %s" % (type(e).__name__, e)
        out["traceback"] = traceback.format_exc()
    if mode != "warmup":
        out["ru_maxrss_mb"] = _max_rss_mb()
    with open(out_path, "w") as f:
        json.dump(out, f, indent=1)
    return 1 if "error" in out else 0


# ---------------------------------------------------------------------------
# the parent: media, datasets, server, subprocesses, report
# ---------------------------------------------------------------------------


def make_big_images(n, side):
    """``n`` incompressible random-noise PNGs of ``side``x``side`` RGB (~3*side^2
    bytes each), cached; returns paths."""
    import numpy as np
    from PIL import Image

    folder = os.path.join(CACHE, "bench-media", "big-%d" % side)
    os.makedirs(folder, exist_ok=True)
    paths = []
    made = 0
    for i in range(n):
        path = os.path.join(folder, "big_%04d.png" % i)
        paths.append(path)
        if os.path.isfile(path) and os.path.getsize(path) > 0:
            continue
        pixels = np.random.default_rng(50000 + i).integers(0, 256, (side, side, 3), dtype=np.uint8)
        tmp = path + ".tmp"
        Image.fromarray(pixels).save(tmp, format="PNG", compress_level=1)
        os.replace(tmp, path)
        made += 1
        if made % 25 == 0:
            log("  generated %d big images" % made)
    if made:
        log("generated %d big images in %s" % (made, folder))
    return paths


def run_worker(mode, spec, tag, timeout):
    """Runs a worker subprocess of this script; returns its JSON output."""
    os.makedirs(OUT_DIR, exist_ok=True)
    spec_path = os.path.join(OUT_DIR, "%s.spec.json" % tag)
    out_path = os.path.join(OUT_DIR, "%s.json" % tag)
    log_path = os.path.join(OUT_DIR, "%s.log" % tag)
    for path in (out_path,):
        if os.path.exists(path):
            os.remove(path)
    with open(spec_path, "w") as f:
        json.dump(spec, f)
    command = [sys.executable, os.path.abspath(__file__), "--worker", mode, spec_path, out_path]
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)
            return {"error": "worker timed out after %ds (log: %s)" % (timeout, log_path)}
        except BaseException:  # interrupted: do not leave the worker behind
            process.kill()
            process.wait(timeout=30)
            raise
    try:
        with open(out_path) as f:
            out = json.load(f)
    except (OSError, ValueError):
        return {"error": "worker exited %s without output (log: %s)" % (process.returncode, log_path)}
    if out.get("error"):
        log("worker %s failed: %s (log: %s)" % (tag, out["error"], log_path))
    return out


class BenchServer:
    """Our own Label Studio server (upload mode) plus a little admin."""

    def __init__(self, data_dir):
        from fo_annotation_backends.testing.labelstudio_server import LabelStudioServer

        self.server = LabelStudioServer(
            data_dir=data_dir,
            document_root=None,  # local-files serving OFF: both backends upload
            extra_env={"LABEL_STUDIO_DATA_UPLOAD_MAX_NUMBER_FILES": "10000"},
        )

    def __getattr__(self, name):
        return getattr(self.server, name)

    def _session(self):
        import requests

        session = requests.Session()
        session.headers["Authorization"] = "Token %s" % self.server.legacy_token
        return session

    def version(self):
        try:
            return self._session().get(self.server.url + "/api/version", timeout=30).json().get("release")
        except Exception:
            return "?"

    def project_ids(self):
        body = self._session().get(self.server.url + "/api/projects", params={"page_size": 1000}, timeout=60).json()
        return [p["id"] for p in (body.get("results", []) if isinstance(body, dict) else body)]

    def delete_project(self, project_id):
        self._session().delete("%s/api/projects/%d" % (self.server.url, project_id), timeout=600)
        self.remove_uploads(project_id)

    def remove_uploads(self, project_id):
        """Removes the media files uploaded to a (deleted) project from our
        own server's data dir (Label Studio leaves them on disk)."""
        folder = os.path.join(self.server.data_dir, "media", "upload", str(int(project_id)))
        if os.path.isdir(folder):
            shutil.rmtree(folder, ignore_errors=True)

    def reset(self):
        """Deletes leftover projects of earlier (interrupted) bench runs, and
        the uploaded media of every project that no longer exists."""
        for project_id in self.project_ids():
            self.delete_project(project_id)
        existing = set(self.project_ids())
        folder = os.path.join(self.server.data_dir, "media", "upload")
        if os.path.isdir(folder):
            for name in os.listdir(folder):
                if name.isdigit() and int(name) not in existing:
                    shutil.rmtree(os.path.join(folder, name), ignore_errors=True)


def package_versions():
    return _package_versions(("fiftyone", "label-studio-sdk", "requests", "httpx"))


def main(argv=None):
    parser = argparse.ArgumentParser(description="Built-in vs our Label Studio backend, side by side")
    parser.add_argument("--n", type=int, default=1000, help="images in the comparison (default 1000)")
    parser.add_argument(
        "--cleanup-limit",
        type=int,
        default=None,
        help="time the built-in cleanup on this many tasks only and extrapolate (default: all tasks)",
    )
    parser.add_argument("--skip-memory", action="store_true", help="skip the 100 MB / 1 GB upload memory check")
    parser.add_argument("--big-count", type=int, default=200, help="files of the big upload (default 200, ~1 GB)")
    parser.add_argument("--small-count", type=int, default=20, help="files of the small upload (default 20, ~100 MB)")
    parser.add_argument("--big-side", type=int, default=1300, help="side of the big PNGs (default 1300: ~5 MB each)")
    parser.add_argument(
        "--backends", default="builtin_ls,ours_ls", help="comparison order (default builtin_ls,ours_ls)"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="rounds per backend, alternating the order; times are medians (the built-in's slow cleanup is "
        "timed in round 1 only). Default 3",
    )
    parser.add_argument("--annotator-threads", type=int, default=2)
    parser.add_argument("--no-warmup", action="store_true", help="skip the small untimed warm-up round")
    parser.add_argument("--profile", action="store_true", help="cProfile annotate/load of our backend into bench/out/")
    parser.add_argument("--data-dir", default=os.path.join(CACHE, "bench-ls-data"), help="the server's data dir")
    parser.add_argument(
        "--results",
        default=RESULTS_MD,
        help="the markdown file whose labelstudio section is written (default bench/RESULTS.md)",
    )
    parser.add_argument("--no-write", action="store_true", help="print only; do not write RESULTS.md")
    parser.add_argument("--keep-datasets", action="store_true")
    parser.add_argument("--worker", nargs=3, metavar=("MODE", "SPEC", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        return worker_main(*args.worker)

    # a SIGTERM unwinds like Ctrl-C, so the `finally` below stops the server
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    command = "./run bench labelstudio" + (
        "" if not sys.argv[1:] else " " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    )
    started = datetime.datetime.now()
    # the built-in decides local-files mode from the CLIENT's environment:
    # make sure both backends upload (the server does not serve local files)
    for var in ("LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED", "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT"):
        os.environ.pop(var, None)
    os.makedirs(OUT_DIR, exist_ok=True)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    for b in backends:
        if b not in BACKENDS:
            parser.error("unknown backend %r" % b)

    info = machine_info()
    info["versions"] = package_versions()
    info["git"] = git_state()
    log(
        "machine: %d CPUs (%s), %.1f GB RAM, load %.2f/%.2f/%.2f"
        % (info["nproc"], info["cpu"], info["ram_gb"], *info["loadavg"])
    )

    log("preparing %d images..." % args.n)
    std_paths = make_std_images(args.n)
    media_bytes = sum(os.path.getsize(p) for p in std_paths)
    log("media: %d files, %.1f MB" % (len(std_paths), media_bytes / MB))

    import fiftyone as fo

    datasets = []
    report = {
        "command": command,
        "date": started.isoformat(timespec="seconds"),
        "machine": info,
        "n": args.n,
        "media_mb": media_bytes / MB,
        "big_file_mb": 3 * args.big_side**2 / 1e6,
        "cleanup_limit": args.cleanup_limit,
        "annotator_threads": args.annotator_threads,
        "repeats": args.repeats,
        "rounds": {},
        "memory": {},
        "env": {k: os.environ.get(k) for k in ("FIFTYONE_DATABASE_DIR", "FIFTYONE_DATABASE_VALIDATION")},
    }
    server = BenchServer(args.data_dir)
    try:
        log("building datasets...")
        base = build_dataset("bench_ls_base", std_paths)
        datasets.append(base.name)
        expected = base.count(FIELD + ".detections") - sum(1 for p in std_paths if _image_index(p) % 3 == 2)
        report["labels_before"] = base.count(FIELD + ".detections")
        report["labels_expected"] = expected
        if not args.no_warmup:
            warm = base[: min(10, len(base))].clone("bench_ls_warmup")
            datasets.append(warm.name)

        big_paths = []
        if not args.skip_memory:
            log("preparing %d big images (~%.1f MB each)..." % (args.big_count, 3 * args.big_side**2 / 1e6))
            big_paths = make_big_images(max(args.big_count, args.small_count), args.big_side)
            for tag, count in (("small", args.small_count), ("big", args.big_count)):
                ds = build_dataset("bench_ls_mem_%s" % tag, big_paths[:count], with_boxes=False, metadata=False)
                datasets.append(ds.name)

        log("starting Label Studio (data dir %s; a fresh one migrates for ~40 s)..." % args.data_dir)
        t0 = time.perf_counter()
        server.start()
        report["server"] = {"url": server.url, "version": server.version(), "start_seconds": time.perf_counter() - t0}
        log(
            "Label Studio %s up at %s in %.1fs"
            % (report["server"]["version"], server.url, report["server"]["start_seconds"])
        )
        server.reset()
        common = {"url": server.url, "token": server.legacy_token}

        if not args.no_warmup:
            log("warm-up round (10 samples, both backends, untimed)...")
            out = run_worker("warmup", dict(common, dataset="bench_ls_warmup", backends=backends), "warmup", 600)
            if out.get("error"):
                log("warm-up failed: %s" % out["error"])

        for repeat in range(1, args.repeats + 1):
            # alternate the order between rounds, so that drift favours neither
            order = backends if repeat % 2 else list(reversed(backends))
            for name in order:
                time_cleanup = repeat == 1 or name != "builtin_ls"
                log(
                    "round %d/%d, %s: import, annotate, annotator, load_annotations, %s (fresh subprocess)..."
                    % (repeat, args.repeats, name, "cleanup" if time_cleanup else "untimed project delete")
                )
                # a fresh copy of the dataset: load_annotations() edits it
                dataset_name = "bench_ls_%s_r%d" % (name, repeat)
                base.clone(dataset_name)
                datasets.append(dataset_name)
                spec = dict(
                    common,
                    backend=name,
                    dataset=dataset_name,
                    cleanup_limit=args.cleanup_limit,
                    time_cleanup=time_cleanup,
                    annotator_threads=args.annotator_threads,
                    annotator_timeout=120 + 2.0 * args.n,
                    profile_prefix=os.path.join(OUT_DIR, "profile_%s_r%d_" % (name, repeat))
                    if (args.profile and name == "ours_ls")
                    else None,
                )
                out = run_worker("round", spec, "round_%s_r%d" % (name, repeat), timeout=1800 + 4.0 * args.n)
                out["repeat"] = repeat
                report["rounds"].setdefault(name, []).append(out)
                _print_round(name, out)
                if out.get("project_id"):
                    server.remove_uploads(out["project_id"])
                if not args.keep_datasets:
                    fo.delete_dataset(dataset_name)

        if not args.skip_memory:
            for tag, count in (("small", args.small_count), ("big", args.big_count)):
                paths = big_paths[:count]
                nbytes = sum(os.path.getsize(p) for p in paths)
                log("memory check, ours: annotate() uploading %d files, %.0f MB..." % (count, nbytes / MB))
                spec = dict(common, dataset="bench_ls_mem_%s" % tag, files=count, bytes=nbytes)
                out = run_worker("memory", spec, "memory_%s" % tag, timeout=1800)
                report["memory"][tag] = out
                if out.get("project_id"):
                    server.remove_uploads(out["project_id"])
                ph = out.get("phases", {}).get("annotate")
                if ph:
                    log(
                        "  %.1f s, %d requests, peak RSS %.0f MB (+%.0f MB during annotate)"
                        % (ph["seconds"], ph["requests"], ph["rss_peak_mb"], ph["rss_growth_mb"])
                    )
    finally:
        try:
            if server.process is not None:
                server.reset()
        except Exception as e:
            log("could not delete leftover projects: %s" % e)
        server.stop()
        log("Label Studio stopped")
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
        json.dump(report, f, indent=1)
    markdown = render(report)
    print()
    print(markdown)
    if not args.no_write:
        # only this bench's section of the file (the other benches keep theirs)
        write_section(args.results, "labelstudio", shift_headings(markdown, 1))
        log("wrote the labelstudio section of %s" % args.results)
    failed = [n for n, rs in report["rounds"].items() for r in rs if r.get("error")] + [
        t for t, r in report["memory"].items() if r.get("error")
    ]
    return 1 if failed else 0


def _print_round(name, out):
    if out.get("error"):
        log("  %s FAILED: %s" % (name, out["error"]))
        if out.get("traceback"):
            print(out["traceback"], flush=True)
    for phase in PHASES:
        ph = out.get("phases", {}).get(phase)
        if ph:
            log(
                "  %-16s %8.2f s %6d requests  peak RSS %6.0f MB (+%.0f)"
                % (phase, ph["seconds"], ph["requests"], ph["rss_peak_mb"], ph["rss_growth_mb"])
            )
    if "annotator_seconds" in out:
        log("  (annotator: %d tasks in %.1f s, untimed)" % (out.get("annotated_tasks", 0), out["annotator_seconds"]))


# ---------------------------------------------------------------------------
# the report
# ---------------------------------------------------------------------------


def _rounds(report, backend):
    """The rounds of a backend that finished without error."""
    return [r for r in (report["rounds"].get(backend) or []) if not r.get("error")]


def _failed_rounds(report, backend):
    return [r for r in (report["rounds"].get(backend) or []) if r.get("error")]


def _phase(report, backend, phase):
    """A phase's figures over the rounds that measured it: median seconds
    (``all_seconds`` lists every round), requests and bytes of the first
    round, the largest peak RSS."""
    items = [r["phases"][phase] for r in _rounds(report, backend) if phase in (r.get("phases") or {})]
    if not items:
        return None
    out = dict(items[0])
    out["all_seconds"] = [i["seconds"] for i in items]
    out["seconds"] = statistics.median(out["all_seconds"])
    out["rss_peak_mb"] = max(i["rss_peak_mb"] for i in items)
    out["rss_growth_mb"] = max(i["rss_growth_mb"] for i in items)
    return out


def _cleanup_seconds(report, backend):
    """(measured seconds, full-run seconds, note) of a backend's cleanup."""
    ph = _phase(report, backend, "cleanup")
    if not ph:
        return None, None, ""
    timed = [r for r in _rounds(report, backend) if "cleanup" in (r.get("phases") or {})]
    subset = timed[0].get("cleanup_subset") if timed else None
    if subset:
        total = timed[0].get("cleanup_tasks_total") or subset
        return (
            ph["seconds"],
            ph["seconds"] * total / subset,
            "measured on %d of %d tasks, extrapolated x%.1f"
            % (
                subset,
                total,
                total / subset,
            ),
        )
    return ph["seconds"], ph["seconds"], ""


def render(report):
    b, o = "builtin_ls", "ours_ls"
    info = report["machine"]
    repeats = report.get("repeats", 1)
    lines = []
    add = lines.append
    add("# Label Studio backends: built-in vs ours")
    add("")
    add("Produced by `bench/bench_labelstudio.py` (do not edit by hand: re-run it).")
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
    versions = info.get("versions", {})
    add(
        "- **Software:** Label Studio server %s (local, 127.0.0.1, SQLite, local-files serving OFF, "
        "`LABEL_STUDIO_DATA_UPLOAD_MAX_NUMBER_FILES=10000`), Python %s, fiftyone %s, label-studio-sdk %s"
        % (
            (report.get("server") or {}).get("version", "?"),
            info["python"],
            versions.get("fiftyone"),
            versions.get("label-studio-sdk"),
        )
    )
    add(
        "- **Workload:** N=%d generated 640x480 JPEGs (%.1f MB in total), %d ground-truth boxes (3-4 per image, "
        "classes %s), label schema `%s` on the existing field; metadata computed beforehand (so the built-in's "
        "`compute_metadata()` inside `annotate()` costs it nothing). Both backends upload the media (the server "
        "does not serve local files)."
        % (report["n"], report["media_mb"], report.get("labels_before", 0), "/".join(CLASSES), json.dumps(LABEL_SCHEMA))
    )
    add(
        "- **Method:** every round of every backend runs in a fresh subprocess on a fresh clone of the dataset, "
        "against the same server, after an untimed 10-sample warm-up round of both. %s Times are wall time of the "
        "FiftyOne call. Requests = every HTTP request sent through `requests.Session.send` and `httpx.Client.send` "
        "during the phase (counted by wrapping them; neither backend is modified). Peak RSS = the subprocess's peak "
        "resident set during the phase (psutil, sampled every 20 ms; the largest over the rounds); it includes "
        "FiftyOne itself (~270 MB once imported)."
        % (
            "%d rounds per backend, the order alternating (built-in first in odd rounds); times are the median, "
            "(min–max) in brackets; the built-in's one-DELETE-per-task cleanup is timed in round 1 only (later "
            "rounds delete their project untimed)." % repeats
            if repeats > 1
            else "One round per backend."
        )
    )
    add(
        "- Between `annotate()` and `load_annotations()` a simulated annotator (`LabelStudioAnnotator`, %s threads) "
        "submits every task, starting from the pre-annotations: keep all boxes (image i%%3==0), move the first box "
        "5%% right (i%%3==1), delete the last box (i%%3==2). Not timed, not counted."
        % report.get("annotator_threads", "?")
    )
    add("")

    add("## Results (N=%d%s)" % (report["n"], ", median of %d rounds" % repeats if repeats > 1 else ""))
    add("")
    add(
        "| phase | built-in time (s) | ours time (s) | ours / built-in | requests built-in | requests ours "
        "| peak RSS built-in (MB) | peak RSS ours (MB) |"
    )
    add("|---|---:|---:|---:|---:|---:|---:|---:|")
    for phase in PHASES:
        pb, po = _phase(report, b, phase), _phase(report, o, phase)
        tb = pb["seconds"] if pb else None
        to = po["seconds"] if po else None
        cell_b = _time_cell(pb)
        if phase == "cleanup":
            measured, full, note = _cleanup_seconds(report, b)
            tb = full
            if note:
                cell_b = "%.2f (%.2f s %s)" % (full, measured, note)
        ratio = (to / tb) if (tb and to is not None) else None
        label = {
            "import": "import backend modules (informational)",
            "annotate": "annotate()",
            "load_annotations": "load_annotations()",
            "cleanup": "results.cleanup()",
        }[phase]
        add(
            "| %s | %s | %s | %s | %s | %s | %s | %s |"
            % (
                label,
                cell_b,
                _time_cell(po),
                _fmt(ratio, "%.2fx"),
                _fmt(pb and pb["requests"], "%d"),
                _fmt(po and po["requests"], "%d"),
                _fmt(pb and pb["rss_peak_mb"], "%.0f"),
                _fmt(po and po["rss_peak_mb"], "%.0f"),
            )
        )
    add("")
    if repeats > 1:
        add("Per round (seconds, in the order run):")
        add("")
        add("| phase | built-in | ours | ours / built-in per round |")
        add("|---|---|---|---|")
        for phase in ("annotate", "load_annotations"):
            pb, po = _phase(report, b, phase), _phase(report, o, phase)
            if not (pb and po):
                continue
            ratios = ["%.2fx" % (x / y) for x, y in zip(po["all_seconds"], pb["all_seconds"])]
            add(
                "| %s | %s | %s | %s |"
                % (
                    phase,
                    ", ".join("%.2f" % v for v in pb["all_seconds"]),
                    ", ".join("%.2f" % v for v in po["all_seconds"]),
                    ", ".join(ratios),
                )
            )
        add("")
    add("RSS growth during each phase (peak minus RSS at the phase start, MB):")
    add("")
    add("| phase | built-in | ours |")
    add("|---|---:|---:|")
    for phase in PHASES:
        pb, po = _phase(report, b, phase), _phase(report, o, phase)
        add(
            "| %s | %s | %s |"
            % (phase, _fmt(pb and pb["rss_growth_mb"], "%+.0f"), _fmt(po and po["rss_growth_mb"], "%+.0f"))
        )
    add("")

    # sanity
    add("### Sanity: merged labels")
    add("")
    rounds_b, rounds_o = _rounds(report, b), _rounds(report, o)
    add(
        "- labels before: %s; expected after the annotator's edits: %s; after `load_annotations()`: built-in **%s**, "
        "ours **%s** (per round)"
        % (
            report.get("labels_before"),
            report.get("labels_expected"),
            ", ".join(str(r.get("labels_after_load")) for r in rounds_b) or "—",
            ", ".join(str(r.get("labels_after_load")) for r in rounds_o) or "—",
        )
    )
    summaries = [r["summary"] for r in rounds_b + rounds_o if r.get("summary")]
    if rounds_b and rounds_o and len(summaries) == len(rounds_b) + len(rounds_o):
        reference = summaries[0]
        differing = sorted({k for other in summaries[1:] for k in reference if reference.get(k) != other.get(k)})
        add(
            "- per image (labels and boxes rounded to 1e-4), all rounds of both backends: %s"
            % (
                "identical for all %d images" % len(reference)
                if not differing
                else "%d images differ (e.g. %s)" % (len(differing), ", ".join(differing[:5]))
            )
        )
    for name, rounds in ((b, rounds_b), (o, rounds_o)):
        for r in rounds:
            add(
                "- %s, round %s: %d tasks uploaded, %d annotated (annotator %.0f s)"
                % (
                    BACKENDS[name]["title"],
                    r.get("repeat", 1),
                    r.get("tasks", 0),
                    r.get("annotated_tasks", 0),
                    r.get("annotator_seconds", 0),
                )
            )
        for r in _failed_rounds(report, name):
            add("- **%s, round %s FAILED:** `%s`" % (BACKENDS[name]["title"], r.get("repeat", 1), r["error"]))
    add("")

    # time breakdown
    if any(r.get("breakdown") for r in rounds_b + rounds_o):
        add("### Where the time goes")
        add("")
        add(
            "Wall time inside named functions during each phase (median over the rounds), taken by wrapping them "
            "in the worker (no profiler; ↳ entries are part of the entry above them; what is left of a phase is "
            "FiftyOne's own bookkeeping; calls made from several threads at once, like our uploads, "
            "add up their durations, so they can exceed the entry above them)."
        )
        add("")
        for phase in ("annotate", "load_annotations", "cleanup"):
            add("**%s**" % phase)
            add("")
            add("| backend | step | seconds | calls |")
            add("|---|---|---:|---:|")
            for name, rounds in ((b, rounds_b), (o, rounds_o)):
                ph = _phase(report, name, phase)
                if ph:
                    add("| %s | **whole phase** | **%.2f** | |" % (BACKENDS[name]["title"], ph["seconds"]))
                per_label = collections.OrderedDict()
                for r in rounds:
                    for label, seconds, calls in (r.get("breakdown") or {}).get(phase) or []:
                        per_label.setdefault(label, []).append((seconds, calls))
                for label, values in per_label.items():
                    shown = "&nbsp;&nbsp;↳ " + label.strip() if label.startswith("  ") else label
                    add(
                        "| %s | %s | %.2f | %d |"
                        % (BACKENDS[name]["title"], shown, statistics.median(v[0] for v in values), values[0][1])
                    )
            add("")

    # requests breakdown
    add("### Requests per phase, by endpoint")
    add("")
    for name in (b, o):
        add("**%s**" % BACKENDS[name]["title"])
        add("")
        for phase in PHASES[1:]:
            ph = _phase(report, name, phase)
            if not ph:
                continue
            parts = ["%d× `%s`" % (n, k) for k, n in ph["requests_by_endpoint"].items()]
            add(
                "- %s (%d, %.1f MB sent): %s"
                % (phase, ph["requests"], ph["bytes_sent"] / MB, "; ".join(parts) or "none")
            )
        add("")

    # memory
    mem = report.get("memory") or {}
    if mem:
        add("## Memory scaling of our backend's upload (local-files OFF)")
        add("")
        add(
            "`annotate()` with our backend, each size in a fresh subprocess, uploading incompressible random-noise "
            "PNGs of ~%.1f MB each (the built-in is not run here: it builds the whole body in memory, see its "
            "annotate RSS growth above)." % (report.get("big_file_mb") or 0)
        )
        add("")
        add(
            "| upload | files | annotate time (s) | requests | MB sent | RSS before (MB) | peak RSS (MB) | growth (MB) |"
        )
        add("|---|---:|---:|---:|---:|---:|---:|---:|")
        for tag in ("small", "big"):
            m = mem.get(tag)
            if not m:
                continue
            ph = (m.get("phases") or {}).get("annotate")
            if m.get("error") or not ph:
                add(
                    "| %.0f MB | %d | FAILED: %s | | | | | |"
                    % (m.get("bytes", 0) / MB, m.get("files", 0), m.get("error"))
                )
                continue
            add(
                "| %.0f MB (%.2f GB) | %d | %.1f | %d | %.0f | %.0f | %.0f | %+.0f |"
                % (
                    m["bytes"] / MB,
                    m["bytes"] / 1e9,
                    m["files"],
                    ph["seconds"],
                    ph["requests"],
                    ph["bytes_sent"] / MB,
                    ph["rss_start_mb"],
                    ph["rss_peak_mb"],
                    ph["rss_growth_mb"],
                )
            )
        add("")

    # targets
    add("## Targets")
    add("")
    add("| target | result | met? |")
    add("|---|---|---|")
    for phase in ("annotate", "load_annotations"):
        pb, po = _phase(report, b, phase), _phase(report, o, phase)
        if pb and po:
            ratio = po["seconds"] / pb["seconds"]
            worst = max(x / y for x, y in zip(po["all_seconds"], pb["all_seconds"]))
            add(
                "| %s: ours ≤ 0.8x built-in time | %.2fx (%.2f s vs %.2f s%s) | %s |"
                % (
                    phase,
                    ratio,
                    po["seconds"],
                    pb["seconds"],
                    ("; medians; worst round %.2fx" % worst) if len(po["all_seconds"]) > 1 else "",
                    "yes" if ratio <= 0.8 else "**no**",
                )
            )
        else:
            add("| %s: ours ≤ 0.8x built-in time | not measured | **no** |" % phase)
    pb, po = _phase(report, b, "annotate"), _phase(report, o, "annotate")
    ib, io_ = _phase(report, b, "import"), _phase(report, o, "import")
    if pb and po and ib and io_:
        tb, to = pb["seconds"] + ib["seconds"], po["seconds"] + io_["seconds"]
        add(
            "| (annotate incl. the first call's backend import, not a target) | %.2fx (%.2f s vs %.2f s) | %s |"
            % (to / tb, to, tb, "yes" if to / tb <= 0.8 else "no")
        )
    measured, full, note = _cleanup_seconds(report, b)
    po = _phase(report, o, "cleanup")
    if full and po:
        speedup = full / po["seconds"] if po["seconds"] else float("inf")
        add(
            "| cleanup ≥ 20x faster | %.0fx (%.2f s vs %.2f s%s) | %s |"
            % (
                speedup,
                po["seconds"],
                full,
                ("; built-in " + note) if note else "",
                "yes" if speedup >= 20 else "**no**",
            )
        )
    else:
        add("| cleanup ≥ 20x faster | not measured | **no** |")
    big = (mem.get("big") or {}).get("phases", {}).get("annotate") if mem else None
    small = (mem.get("small") or {}).get("phases", {}).get("annotate") if mem else None
    if big:
        absolute_ok = big["rss_peak_mb"] < 300
        growth_ok = big["rss_growth_mb"] < 300
        flat = small is not None and big["rss_peak_mb"] - small["rss_peak_mb"] < 50
        big_import = (mem["big"].get("phases") or {}).get("import")
        baseline = (
            "; the process held %.0f MB with FiftyOne loaded, importing our backend added %+.0f MB"
            % (big_import["rss_start_mb"], big_import["rss_growth_mb"])
            if big_import
            else ""
        )
        add(
            "| %.0f MB (%.2f GB) upload: peak client RSS < 300 MB | peak %.0f MB absolute (process incl. FiftyOne), "
            "%+.0f MB during `annotate()`%s; %s | %s |"
            % (
                mem["big"]["bytes"] / MB,
                mem["big"]["bytes"] / 1e9,
                big["rss_peak_mb"],
                big["rss_growth_mb"],
                baseline,
                (
                    "%.0f MB peak for the %.0f MB upload: %s with upload size"
                    % (small["rss_peak_mb"], mem["small"]["bytes"] / MB, "not growing" if flat else "GROWING")
                )
                if small
                else "no small upload to compare",
                ("yes" if absolute_ok else ("growth yes, absolute **no**" if growth_ok else "**no**"))
                + ("" if flat else "; growth with size **no**"),
            )
        )
    else:
        add("| 1 GB upload: peak client RSS < 300 MB | not measured (`--skip-memory`?) | — |")
    add("")
    add("MB = 2^20 bytes, GB = 10^9 bytes.")
    add("")
    add(
        "Raw figures (per-endpoint counts, RSS at phase start, bytes sent, per round): `bench/out/report.json` (not committed)."
    )
    add("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
