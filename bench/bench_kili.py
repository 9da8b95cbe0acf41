"""Benchmark: our Kili backend against the Kili emulator, side by side with
the official Kili SDK doing the same work by hand.

One run starts ONE Kili emulator as a subprocess (its CLI: a process of its
own, so it shares neither the GIL nor the memory of the clients; no call
budget), builds a dataset of N generated 640x480 JPEGs with 3-4 ground-truth
boxes each, and then, round after round, each in a fresh subprocess:

- ours (``fo_annotation_backends.kili``, its default config): ``import``
  (informational), ``annotate()``, a simulated annotator (played by this
  parent process; not timed, not counted), ``load_annotations()``,
  ``results.cleanup()``;
- the baseline (``kili_sdk_baseline.py``, in the SDK's own venv): what a user
  would write by hand with the official SDK: ``import``, the SDK's start-up
  handshake (reported separately), ``create_project`` +
  ``append_many_to_dataset`` + ``append_labels`` (PREDICTION), the same
  annotator, ``kili.assets(...)`` + the latest DEFAULT/REVIEW label of each
  asset converted back to boxes (no FiftyOne merge), ``delete_project``.

Every phase: wall time, HTTP requests sent by the client (``requests``
``Session.send`` wrapped), GraphQL operations seen by the emulator
(``/_emulator/stats``, reset before the phase), peak RSS and RSS growth
(psutil or /proc, every 20 ms). ``--budget`` adds rounds of ours with the
emulator enforcing Kili's 500 calls per minute.

Figures go to the ``kili`` section of ``bench/RESULTS.md``; raw JSON to
``bench/out/kili/``.

    ./run bench kili [--n 1000] [--rounds 3] [--budget] [--skip-baseline] [--no-write]
                     [--profile] [--config KEY=VALUE]
"""

import argparse
import collections
import datetime
import json
import os
import secrets
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

from bench_common import (  # noqa: E402
    CACHE,
    CLASSES,
    FIELD,
    LABEL_SCHEMA,
    MB,
    RESULTS_MD,
    Breakdown,
    EmulatorControl,
    Meter,
    boxes_of,
    build_dataset,
    fmt,
    git_state,
    image_index,
    labels_summary,
    log,
    machine_info,
    max_rss_mb,
    package_versions,
    pause_for_parent,
    run_worker_process,
    shift_headings,
    time_cell,
    write_section,
)

OUT_DIR = os.path.join(HERE, "out", "kili")
SDK_SCRIPT = os.path.join(HERE, "kili_sdk_baseline.py")
SDK_PYTHON = os.path.join(CACHE, "kili-sdk-venv", "bin", "python")
CONFIG_CLS = "fo_annotation_backends.kili.KiliBackendConfig"
BACKEND = "kili"
MODEL_NAME = "fiftyone"  # our backend's default model_name, used by the baseline too
ANNOTATOR = "annotator@example.com"

OURS_PHASES = ("import", "annotate", "load_annotations", "cleanup")
SDK_PHASES = ("import", "connect", "upload", "download", "cleanup")


def storage_path_key(path):
    """Request counting key: signed storage URLs by kind, not by asset."""
    if path.startswith("/storage/"):
        return "/storage/{path}"
    return path


# ---------------------------------------------------------------------------
# where the time goes in ours: wall time of named functions per phase
# ---------------------------------------------------------------------------

FO_ANNOTATIONS = "fiftyone.utils.annotations"
KILI_BACKEND = "fo_annotation_backends.kili.backend"
KILI_UPLOAD = "fo_annotation_backends.kili.upload"
KILI_DOWNLOAD = "fo_annotation_backends.kili.download"
KILI_CLIENT = "fo_annotation_backends.kili.client"
CORE_DOWNLOAD = "fo_annotation_backends.core.download"

BREAKDOWN = [
    (FO_ANNOTATIONS, "_build_label_schema", "FiftyOne: validate the label schema"),
    (KILI_UPLOAD, "normalize_label_schema", "normalize schema"),
    (KILI_UPLOAD, "check_image_media", "check media files"),
    (KILI_BACKEND, "KiliBackend._connect_to_api", "create client"),
    (KILI_CLIENT, "KiliClient.viewer", "check credentials (viewer)"),
    (KILI_UPLOAD, "Uploader._resolve_project", "find + create project"),
    (KILI_UPLOAD, "Uploader._upload", "upload assets + predictions (batches of 100)"),
    (KILI_UPLOAD, "field_values", "  read label fields (FiftyOne values())"),
    (KILI_UPLOAD, "labels_to_json_response", "  convert labels to jsonResponse"),
    (KILI_CLIENT, "KiliClient.signed_upload_urls", "  signed upload URLs (30 a call)"),
    (KILI_CLIENT, "KiliClient.upload_file", "  PUT files (upload_workers threads; durations add up)"),
    (KILI_CLIENT, "KiliClient.append_assets", "  appendManyAssets (100 a call)"),
    (KILI_CLIENT, "KiliClient.append_predictions", "  appendManyLabels PREDICTION (100 a call)"),
    (KILI_BACKEND, "KiliBackend.download_annotations", "download_annotations (backend)"),
    (CORE_DOWNLOAD, "load_current_labels", "  read current labels (FiftyOne values())"),
    (KILI_DOWNLOAD, "json_response_to_labels", "  convert jsonResponse to labels"),
    (KILI_CLIENT, "KiliClient.query", "every GraphQL query (incl. the JSON decode)"),
    (KILI_CLIENT, "KiliClient.mutate", "every GraphQL mutation"),
    (FO_ANNOTATIONS, "_merge_labels", "FiftyOne: merge labels into the dataset"),
    (KILI_CLIENT, "KiliClient.delete_project", "delete project"),
]


# ---------------------------------------------------------------------------
# the worker: one round of ours, in a fresh subprocess
# ---------------------------------------------------------------------------


def worker_ours(spec, out):
    meter = Meter(path_key=storage_path_key)
    out.update(backend="ours", phases=meter.phases, server={})
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
            emulator.reset_stats()
            try:
                return meter.measure(phase, func, profile_path=profile_path)
            finally:
                out["server"][phase] = emulator.stats()

        measure("import", lambda: importlib.import_module("fo_annotation_backends.kili"))
        if spec.get("breakdown"):
            breakdown = Breakdown(meter)
            breakdown.install(BREAKDOWN)

        anno_key = spec["anno_key"]
        results = measure(
            "annotate",
            lambda: dataset.annotate(anno_key, backend=BACKEND, label_schema=LABEL_SCHEMA, **spec.get("config", {})),
            profile_path=(profile + "annotate") if profile else None,
        )
        out["project_id"] = results.project_id
        out["assets"] = len(results.asset_ids)
        out["config"] = {
            k: getattr(results.config, k)
            for k in (
                "upload_workers",
                "download_page_size",
                "max_calls",
                "window_seconds",
                "model_name",
                "label_selection",
            )
        }

        # the annotator, played by the parent: not timed, not counted
        paths = dict(zip(*dataset.values(["id", "filepath"])))
        answer = pause_for_parent(
            {
                "project_id": results.project_id,
                "assets": {a: image_index(paths[s]) for s, a in results.asset_ids.items()},
            }
        )
        out["annotator"] = answer

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
        json.dump(out, f, indent=1)
    return 1 if "error" in out else 0


# ---------------------------------------------------------------------------
# the parent: the emulator, the annotator, the rounds
# ---------------------------------------------------------------------------


class EmulatorProcess:
    """The Kili emulator, run through its CLI in a subprocess of its own."""

    def __init__(self, api_key, log_path):
        self.api_key = api_key
        self.log_path = log_path
        self.process = None
        self.url = None

    def start(self, timeout=60):
        entry = ["-m", "fo_annotation_backends.testing.kili"]
        command = [
            sys.executable,
            *entry,
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--api-key",
            self.api_key,
        ]
        self._log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=self._log, stdin=subprocess.DEVNULL, text=True, cwd=ROOT
        )
        got = []
        reader = threading.Thread(target=lambda: got.append(self.process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        line = (got[0] if got else "").strip()
        if not line.startswith("http"):
            self.stop()
            raise RuntimeError("the Kili emulator did not start (first line %r; log %s)" % (line, self.log_path))
        self.url = line
        # keep draining its stdout (it prints nothing more, but never block it)
        threading.Thread(target=lambda: [None for _ in self.process.stdout], daemon=True).start()
        return self

    def probe(self, calls=30):
        """Median milliseconds of a small GraphQL query on a kept-alive
        connection, and with a new connection per call."""
        import requests

        body = {"query": "query { data: viewer { id email } }"}
        headers = {"Authorization": "X-API-Key: %s" % self.api_key}
        out = {}
        with requests.Session() as session:
            for label, post in (
                ("keepalive_ms", lambda: session.post(self.url, json=body, headers=headers, timeout=30)),
                ("new_connection_ms", lambda: requests.post(self.url, json=body, headers=headers, timeout=30)),
            ):
                post().raise_for_status()
                times = []
                for _ in range(calls):
                    t0 = time.perf_counter()
                    post().raise_for_status()
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
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None


def edit_response(index, response):
    """The annotator's edit of image ``index`` (the same as the Label Studio
    bench's): keep every box (i%3==0), move the first box 5% of the width to
    the right (i%3==1, kept inside the image), delete the last box (i%3==2)."""
    for job_response in response.values():
        if not isinstance(job_response, dict) or "annotations" not in job_response:
            continue
        annotations = job_response["annotations"]
        rectangles = [a for a in annotations if a.get("type") == "rectangle"]
        if index % 3 == 1 and rectangles:
            vertices = rectangles[0]["boundingPoly"][0]["normalizedVertices"]
            dx = min(0.05, 1.0 - max(v["x"] for v in vertices))
            for v in vertices:
                v["x"] += dx
        elif index % 3 == 2 and rectangles:
            last = rectangles[-1]
            job_response["annotations"] = [a for a in annotations if a is not last]
    return response


def expected_boxes(index):
    """The boxes of image ``index`` after :func:`edit_response`."""
    boxes = [(label, list(box)) for label, box in boxes_of(index)]
    if index % 3 == 1:
        label, (x, y, w, h) = boxes[0]
        boxes[0] = (label, [min(x + 0.05, 1.0 - w), y, w, h])
    elif index % 3 == 2:
        boxes = boxes[:-1]
    return boxes


def check_summary(summary, indices, tolerance=2e-4):
    """``(images as expected, [mismatching image indices])``."""
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


class Annotator:
    """Plays the person in the loop between the two halves of a round: reads
    every asset's pre-annotation, applies :func:`edit_response`, and submits
    DEFAULT labels (``KiliAnnotator.submit_many``, 100 a call)."""

    def __init__(self, url, api_key):
        from fo_annotation_backends.testing.kili_annotator import KiliAnnotator

        self.annotator = KiliAnnotator(url, api_key)

    def json_interface(self, project_id):
        projects = self.annotator.graphql(
            "query($where: ProjectWhere!) { data: projects(where: $where, first: 1, skip: 0) { jsonInterface } }",
            {"where": {"id": project_id}},
        )["data"]
        value = projects[0]["jsonInterface"] if projects else None
        return json.loads(value) if isinstance(value, str) else value

    def __call__(self, payload):
        t0 = time.perf_counter()
        project_id = payload["project_id"]
        index_of = payload["assets"]
        prefilled = {}
        skip = 0
        while True:
            page = self.annotator.graphql(
                "query($where: AssetWhere!, $first: PageSize!, $skip: Int!) "
                "{ data: assets(where: $where, first: $first, skip: $skip) "
                "{ id labels { labelType createdAt jsonResponse } } }",
                {"where": {"project": {"id": project_id}}, "first": 500, "skip": skip},
            )["data"]
            for asset in page:
                labels = asset.get("labels") or []
                human = [label for label in labels if label["labelType"] in ("DEFAULT", "REVIEW")]
                pool = human or [label for label in labels if label["labelType"] == "PREDICTION"]
                if pool:
                    response = max(pool, key=lambda label: label["createdAt"])["jsonResponse"]
                    prefilled[asset["id"]] = json.loads(response) if isinstance(response, str) else (response or {})
                else:
                    prefilled[asset["id"]] = {}
            if len(page) < 500:
                break
            skip += len(page)
        missing = [a for a in index_of if a not in prefilled]
        if missing:
            raise RuntimeError("%d assets of the run are not in project %s" % (len(missing), project_id))
        labels = [(asset_id, edit_response(index, prefilled[asset_id])) for asset_id, index in index_of.items()]
        ids = self.annotator.submit_many(project_id, labels, author=ANNOTATOR)
        return {
            "annotated": len(ids),
            "seconds": time.perf_counter() - t0,
            "json_interface": self.json_interface(project_id),
        }


def sdk_inputs(dataset, json_interface, job):
    """What the baseline starts from: paths, external ids and boxes (with
    their FiftyOne label ids as ``mid``), in memory."""
    paths, ids, labels, boxes = dataset.values(
        ["filepath", FIELD + ".detections.id", FIELD + ".detections.label", FIELD + ".detections.bounding_box"]
    )
    items = []
    for path, sample_ids, sample_labels, sample_boxes in zip(paths, ids, labels, boxes):
        items.append(
            {
                "path": path,
                "index": image_index(path),
                "external_id": os.path.splitext(os.path.basename(path))[0],
                "labels": [
                    {"id": i, "label": label, "box": list(b)}
                    for i, label, b in zip(sample_ids or [], sample_labels or [], sample_boxes or [])
                ],
            }
        )
    return {"json_interface": json_interface, "job": job, "items": items}


def our_json_interface(dataset):
    """The jsonInterface our backend builds for the label schema, and the
    job name of the field."""
    from fo_annotation_backends.core.schema import normalize_label_schema
    from fo_annotation_backends.kili.backend import SUPPORTED_TYPES
    from fo_annotation_backends.kili.convert import KiliInterface

    interface = KiliInterface(normalize_label_schema(LABEL_SCHEMA, dataset, SUPPORTED_TYPES))
    return interface.json_interface(), interface.job_name(FIELD)


class Runner:
    def __init__(self, args, emulator, annotator):
        self.args = args
        self.emulator = emulator
        self.annotator = annotator
        self.datasets = []

    def ours(self, base, tag, config=None, profile_prefix=None, breakdown=True):
        import fiftyone as fo

        name = "bench_kili_%s" % tag
        base.clone(name)
        self.datasets.append(name)
        spec = {
            "url": self.emulator.url,
            "api_key": self.emulator.api_key,
            "dataset": name,
            "anno_key": "bench_%s" % tag,
            "config": config or {},
            "profile_prefix": profile_prefix,
            "breakdown": breakdown,
        }
        try:
            return self._run([sys.executable, os.path.abspath(__file__), "--worker", "ours"], spec, "ours_%s" % tag)
        finally:
            if not self.args.keep_datasets and fo.dataset_exists(name):
                fo.delete_dataset(name)

    def sdk(self, inputs_path, tag, connect_only=False):
        spec = {
            "url": self.emulator.url,
            "api_key": self.emulator.api_key,
            "inputs": inputs_path,
            "schema_cache_dir": os.path.join(OUT_DIR, "sdk-schema-cache"),
            "model_name": MODEL_NAME,
            "title": "SDK baseline %s" % tag,
            "description": "bench_kili.py SDK baseline %s" % tag,
            "connect_only": connect_only,
        }
        env = dict(os.environ, HOME=os.path.join(OUT_DIR, "sdk-home"), KILI_DISABLE_TQDM="true")
        for name in ("KILI_SDK_SKIP_CHECKS", "KILI_API_KEY", "KILI_API_ENDPOINT", "PYTHONPATH"):
            env.pop(name, None)
        os.makedirs(env["HOME"], exist_ok=True)
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


def _print_round(name, out, phases):
    for phase in phases:
        ph = (out.get("phases") or {}).get(phase)
        if ph:
            server = (out.get("server") or {}).get(phase) or {}
            log(
                "  %-8s %-16s %7.2f s %5d requests (%4d GraphQL ops on the server)  peak RSS %5.0f MB (%+.0f)"
                % (
                    name,
                    phase,
                    ph["seconds"],
                    ph["requests"],
                    graphql_ops(server),
                    ph["rss_peak_mb"],
                    ph["rss_growth_mb"],
                )
            )
    annotator = out.get("annotator") or {}
    if annotator:
        log(
            "  %-8s (annotator: %d labels in %.1f s, untimed)"
            % (name, annotator.get("annotated", 0), annotator.get("seconds", 0))
        )


def graphql_ops(stats):
    """The GraphQL root-field operations of an emulator stats dict (not the
    storage transfers, not /version)."""
    return sum(
        n
        for op, n in (stats.get("operations") or {}).items()
        if op not in ("storage_put", "storage_get", "version", "other")
    )


def sdk_version():
    try:
        return (
            subprocess.run(
                [SDK_PYTHON, "-c", "from importlib import metadata; print(metadata.version('kili'))"],
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
        description="Our Kili backend vs the official Kili SDK by hand, on the Kili emulator"
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
    parser.add_argument("--skip-baseline", action="store_true", help="run ours only")
    parser.add_argument(
        "--budget",
        action="store_true",
        help="in every round, also run ours with the emulator enforcing Kili's 500 calls per 60 s",
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
        help="a KiliBackendConfig parameter for ours (JSON value), e.g. --config upload_workers=8 (repeatable)",
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

    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    command = "./run bench kili" + ("" if not sys.argv[1:] else " " + " ".join(shlex.quote(a) for a in sys.argv[1:]))
    started = datetime.datetime.now()
    os.makedirs(OUT_DIR, exist_ok=True)
    if not args.skip_baseline and not os.access(SDK_PYTHON, os.X_OK):
        parser.error("the Kili SDK environment is missing: %s (run ./run setup), or use --skip-baseline" % SDK_PYTHON)
    # a fresh SDK schema cache: the warm-up fills it (the SDK's one-time introspection)
    shutil.rmtree(os.path.join(OUT_DIR, "sdk-schema-cache"), ignore_errors=True)

    info = machine_info()
    info["versions"] = package_versions(("fiftyone", "requests", "graphql-core", "psutil"))
    info["versions"]["kili (SDK venv)"] = sdk_version() if not args.skip_baseline else "not run"
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
        "rounds": {"ours": [], "sdk": []},
        "budget": None,
        "ours_config_overrides": ours_config,
        "env": {k: os.environ.get(k) for k in ("FIFTYONE_DATABASE_DIR", "FIFTYONE_DATABASE_VALIDATION")},
    }
    emulator = EmulatorProcess("bench-" + secrets.token_hex(12), os.path.join(OUT_DIR, "emulator.log"))
    runner = None
    datasets = []
    try:
        log("building the dataset...")
        base = build_dataset("bench_kili_base", paths)
        datasets.append(base.name)
        report["labels_before"] = base.count(FIELD + ".detections")
        report["labels_expected"] = sum(len(expected_boxes(image_index(p))) for p in paths)
        json_interface, job = our_json_interface(base)
        report["json_interface"] = json_interface
        inputs_path = os.path.join(OUT_DIR, "sdk_inputs.json")
        t0 = time.perf_counter()
        inputs = sdk_inputs(base, json_interface, job)
        report["sdk_inputs_seconds"] = time.perf_counter() - t0  # what a by-hand script would also pay
        with open(inputs_path, "w") as f:
            json.dump(inputs, f)
        warm_inputs_path = os.path.join(OUT_DIR, "sdk_inputs_warmup.json")
        warm = base[: min(10, len(base))].clone("bench_kili_warm_base")
        datasets.append(warm.name)
        with open(warm_inputs_path, "w") as f:
            json.dump(sdk_inputs(warm, json_interface, job), f)

        log("starting the Kili emulator (CLI subprocess)...")
        t0 = time.perf_counter()
        emulator.start()
        report["emulator"] = {
            "url": emulator.url,
            "start_seconds": time.perf_counter() - t0,
            "pid": emulator.process.pid,
        }
        control = EmulatorControl(emulator.url, emulator.api_key)
        report["emulator"]["knobs"] = control.set_knobs(max_calls=None)  # no budget
        log("Kili emulator up at %s (pid %d)" % (emulator.url, emulator.process.pid))
        report["emulator"]["probe"] = emulator.probe()
        log(
            "GraphQL round trip (viewer): %.1f ms kept-alive, %.1f ms with a new connection each (median)"
            % (report["emulator"]["probe"]["keepalive_ms"], report["emulator"]["probe"]["new_connection_ms"])
        )
        runner = Runner(args, emulator, Annotator(emulator.url, emulator.api_key))

        if not args.no_warmup:
            log("warm-up (10 images, both, untimed; fills the SDK's schema cache)...")
            out = runner.ours(warm, "warmup", breakdown=False)
            report["warmup"] = {"ours": out.get("error") or "ok"}
            if not args.skip_baseline:
                out = runner.sdk(warm_inputs_path, "warmup")
                report["warmup"]["sdk"] = out.get("error") or "ok"

        sides = ["ours"] + ([] if args.skip_baseline else ["sdk"]) + (["ours_budget"] if args.budget else [])
        if args.budget:
            report["budget"] = {"knobs": {"max_calls": 500, "window_seconds": 60, "enforce_limit": True}, "rounds": []}
        for r in range(1, args.rounds + 1):
            # alternate the order between rounds, so that drift favours no side
            order = sides if r % 2 else list(reversed(sides))
            for side in order:
                log("round %d/%d, %s (fresh subprocess)..." % (r, args.rounds, side))
                if side == "ours":
                    out = runner.ours(base, "r%d" % r, config=ours_config)
                    report["rounds"]["ours"].append(out)
                elif side == "sdk":
                    out = runner.sdk(inputs_path, "r%d" % r)
                    report["rounds"]["sdk"].append(out)
                else:  # ours again, with the emulator enforcing Kili's budget
                    control.set_knobs(**report["budget"]["knobs"])
                    try:
                        out = runner.ours(base, "budget_r%d" % r, config=ours_config)
                    finally:
                        control.set_knobs(max_calls=None)
                    report["budget"]["rounds"].append(out)
                out["round"] = r
                _print_round(side, out, SDK_PHASES if side == "sdk" else OURS_PHASES)

        if args.profile:
            log("profile round of ours (cProfile; not in the tables)...")
            out = runner.ours(
                base,
                "profile",
                config=ours_config,
                profile_prefix=os.path.join(OUT_DIR, "profile_ours_"),
                breakdown=False,
            )
            report["profile"] = {
                "error": out.get("error"),
                "seconds": {p: v["seconds"] for p, v in (out.get("phases") or {}).items()},
                "files": "bench/out/kili/profile_ours_{annotate,load}.{cumulative,tottime}.txt",
            }
        report["emulator"]["rss_end_mb"] = emulator.rss_mb()
    finally:
        emulator.stop()
        log("Kili emulator stopped")
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
        json.dump(report, f, indent=1)
    markdown = render(report)
    print()
    print(markdown)
    if not args.no_write:
        write_section(args.results, "kili", shift_headings(markdown, 1))
        log("wrote the kili section of %s" % args.results)
    failed = [r for rs in report["rounds"].values() for r in rs if r.get("error")]
    failed += [r for r in ((report.get("budget") or {}).get("rounds") or []) if r.get("error")]
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
    """The emulator's stats of a phase in the first round that has it, with
    the GraphQL operation counts of every round."""
    items = [r["server"][phase] for r in _ok(rounds) if phase in (r.get("server") or {})]
    if not items:
        return None
    out = dict(items[0])
    out["all_graphql"] = [graphql_ops(i) for i in items]
    out["graphql"] = out["all_graphql"][0]
    out["storage_put"] = (items[0].get("operations") or {}).get("storage_put", 0)
    out["peak_max"] = max(i.get("peak_calls_in_window", 0) for i in items)
    out["over_limit_max"] = max(i.get("over_limit", 0) for i in items)
    return out


def _sum_phases(rounds, phases):
    """Median over the rounds of the sum of several phases' seconds."""
    sums = [
        sum(r["phases"][p]["seconds"] for p in phases)
        for r in _ok(rounds)
        if all(p in (r.get("phases") or {}) for p in phases)
    ]
    if not sums:
        return None
    return {"seconds": statistics.median(sums), "all_seconds": sums}


def _breakdown_median(rounds, phase, label):
    values = [
        seconds
        for r in _ok(rounds)
        for name, seconds, _ in (r.get("breakdown") or {}).get(phase) or []
        if name == label
    ]
    return statistics.median(values) if values else None


def _same(values):
    return "same in every round" if len(set(values)) <= 1 else "per round: %s" % ", ".join(str(v) for v in values)


def render(report):
    n = report["n"]
    info = report["machine"]
    ours_rounds = report["rounds"].get("ours") or []
    sdk_rounds = report["rounds"].get("sdk") or []
    have_sdk = bool(_ok(sdk_rounds))
    versions = info.get("versions", {})
    ours_config = next((r.get("config") for r in _ok(ours_rounds) if r.get("config")), {}) or {}
    lines = []
    add = lines.append

    add("# Kili: our backend vs the official Kili SDK by hand")
    add("")
    add("Produced by `bench/bench_kili.py` (do not edit by hand: re-run it).")
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
    add(
        "- **Software:** Python %s, fiftyone %s, requests %s; the Kili emulator of this package "
        "(`python -m fo_annotation_backends.testing.kili`, graphql-core %s) on 127.0.0.1 in a process of its own, "
        "no call budget, no faults; official Kili SDK %s in its own venv (`.cache/kili-sdk-venv`, Python %s)"
        % (
            info["python"],
            versions.get("fiftyone"),
            versions.get("requests"),
            versions.get("graphql-core"),
            versions.get("kili (SDK venv)"),
            info["python"],
        )
    )
    emu = report.get("emulator") or {}
    probe = emu.get("probe") or {}
    if probe:
        add(
            "- **Emulator transport:** a small GraphQL query takes %s ms kept-alive and %s ms on a "
            "new connection (median of 30)."
            % (
                fmt(probe.get("keepalive_ms"), "%.1f"),
                fmt(probe.get("new_connection_ms"), "%.1f"),
            )
        )
    add(
        "- **Workload:** N=%d generated 640x480 JPEGs (%.1f MB in total, local files: both sides upload them through "
        "signed storage URLs), %d ground-truth boxes (3-4 per image, classes %s), label schema `%s` on the existing field."
        % (n, report["media_mb"], report.get("labels_before", 0), "/".join(CLASSES), json.dumps(LABEL_SCHEMA))
    )
    overrides = report.get("ours_config_overrides") or {}
    add(
        '- **Ours:** `dataset.annotate(key, backend="kili", label_schema=...)` with %s (%s), then '
        "`load_annotations()` and `results.cleanup()`."
        % (
            "the default config"
            if not overrides
            else "the config overridden by `--config` (%s)" % json.dumps(overrides),
            ", ".join(
                "`%s=%s`" % (k, ours_config[k])
                for k in ("upload_workers", "download_page_size", "max_calls", "window_seconds")
                if k in ours_config
            ),
        )
    )
    add(
        "- **Baseline:** `bench/kili_sdk_baseline.py`, *what a user would write by hand with the official SDK*; it is "
        "not a FiftyOne backend (FiftyOne has no built-in Kili backend). It starts from the file paths and boxes "
        "already in memory (reading them from FiftyOne is not timed), and does: `create_project` with the same "
        "jsonInterface our backend builds; `append_many_to_dataset` of the same local files with external ids; its own "
        "conversion of the boxes to jsonResponses (FiftyOne label ids as `mid`); `append_labels` of them as "
        'PREDICTION labels (`model_name="%s"`); after the annotator, `kili.assets(project_id, fields=[id, externalId, '
        "labels.jsonResponse, labels.labelType, labels.createdAt, labels.author.email])`, the latest DEFAULT/REVIEW label "
        "of each asset, converted back to boxes (no merge into a FiftyOne dataset: that part of our `load_annotations()` "
        "has no counterpart); `delete_project`. The SDK's start-up handshake (`Kili(...)`: viewer, version, apiKeys; the "
        "GraphQL schema comes from the SDK's on-disk cache, filled once by the warm-up) is timed as a phase of its own "
        "(`connect`), and also shown added to the upload." % MODEL_NAME
    )
    rounds = max(len(ours_rounds), len(sdk_rounds))
    add(
        "- **Method:** each round of each side runs in a fresh subprocess against the same emulator, %s; %s. Times are wall time of the call(s). *Requests* = every HTTP request the client "
        "sent through `requests.Session.send` during the phase (wrapped; neither side is modified), GraphQL calls and "
        "storage PUTs together. *GraphQL ops* = GraphQL root fields the emulator executed during the phase "
        "(`/_emulator/stats`, reset before each phase; storage transfers not included). Peak RSS = the client "
        "subprocess's peak resident set during the phase (sampled every 20 ms; the largest over the rounds): ours "
        "includes FiftyOne and its database client (~270 MB once loaded), the SDK process has no FiftyOne, so compare "
        "the RSS *growth*."
        % (
            "after an untimed 10-image warm-up of both" if report.get("warmup") else "with no warm-up (`--no-warmup`)",
            "%d rounds, the order alternating (ours first in odd rounds); times are the median, (min–max) in brackets"
            % rounds
            if rounds > 1
            else "one round",
        )
    )
    add(
        "- Between the upload and the download the parent plays the annotator (`KiliAnnotator.submit_many`, DEFAULT "
        "labels as `%s`, 100 per call), starting from the pre-annotations: keep every box (image i%%3==0), move the "
        "first box 5%% of the width right (i%%3==1), delete the last box (i%%3==2), as in the Label Studio bench. "
        "Not timed, not counted." % ANNOTATOR
    )
    add("")

    # --- times -----------------------------------------------------------------
    add("## Results (N=%d%s)" % (n, ", median of %d rounds" % rounds if rounds > 1 else ""))
    add("")
    rows = [
        ("import modules (informational)", "import", "import"),
        ("SDK start-up handshake (`Kili(...)`)", None, "connect"),
        ("`annotate()` / upload", "annotate", "upload"),
        ("`load_annotations()` / download", "load_annotations", "download"),
        ("`results.cleanup()` / `delete_project`", "cleanup", "cleanup"),
    ]
    add(
        "| phase (ours / baseline) | ours time (s) | SDK time (s) | ours / SDK | requests ours | requests SDK "
        "| GraphQL ops ours | GraphQL ops SDK | peak RSS ours (MB) | peak RSS SDK (MB) | RSS growth ours (MB) | RSS growth SDK (MB) |"
    )
    add("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, po_name, ps_name in rows:
        po = _phase(ours_rounds, po_name) if po_name else None
        ps = _phase(sdk_rounds, ps_name) if ps_name else None
        so = _server(ours_rounds, po_name) if po_name else None
        ss = _server(sdk_rounds, ps_name) if ps_name else None
        ratio = po["seconds"] / ps["seconds"] if (po and ps and ps["seconds"]) else None
        add(
            "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |"
            % (
                label,
                time_cell(po) if po_name else "(inside `annotate()`)",
                time_cell(ps),
                fmt(ratio, "%.2fx"),
                fmt(po and po["requests"], "%d"),
                fmt(ps and ps["requests"], "%d"),
                fmt(so and so["graphql"], "%d"),
                fmt(ss and ss["graphql"], "%d"),
                fmt(po and po["rss_peak_mb"], "%.0f"),
                fmt(ps and ps["rss_peak_mb"], "%.0f"),
                fmt(po and po["rss_growth_mb"], "%+.0f"),
                fmt(ps and ps["rss_growth_mb"], "%+.0f"),
            )
        )
    po = _phase(ours_rounds, "annotate")
    ps = _sum_phases(sdk_rounds, ("connect", "upload"))
    if po and ps:
        add(
            "| (`annotate()` vs handshake + upload) | %s | %s | %.2fx | | | | | | | | |"
            % (time_cell(po), time_cell(ps), po["seconds"] / ps["seconds"])
        )
    add("")
    po, ps = _phase(ours_rounds, "annotate"), _phase(sdk_rounds, "upload")
    if report.get("sdk_inputs_seconds") is not None and po and ps:
        backend_part = _breakdown_median(ours_rounds, "load_annotations", "download_annotations (backend)")
        pd = _phase(sdk_rounds, "download")
        if backend_part is not None and pd:
            add(
                "`load_annotations()` is FiftyOne's whole call: the backend's part (`download_annotations()`: the "
                "queries, reading the current labels, building FiftyOne labels) took %.2f s (median), %.2fx the "
                "SDK's download; the rest is FiftyOne merging the labels into the dataset, which the baseline does "
                "not do." % (backend_part, backend_part / pd["seconds"])
            )
            add("")
        add(
            "The baseline starts from the paths and boxes in memory. Reading them from the FiftyOne dataset, as a "
            "by-hand script would have to, took %.2f s (one `values()` call, timed once in the parent): upload + "
            "that read = %.2f s, ours / that = %.2fx. `annotate()` also includes FiftyOne's own label-schema "
            "validation (see *Where ours spends its time*)."
            % (
                report["sdk_inputs_seconds"],
                ps["seconds"] + report["sdk_inputs_seconds"],
                po["seconds"] / (ps["seconds"] + report["sdk_inputs_seconds"]),
            )
        )
        add("")
    if rounds > 1:
        add("Per round (seconds, in the order run):")
        add("")
        add("| phase | ours | SDK | ours / SDK per round |")
        add("|---|---|---|---|")
        for po_name, ps_name in (("annotate", "upload"), ("load_annotations", "download"), ("cleanup", "cleanup")):
            po, ps = _phase(ours_rounds, po_name), _phase(sdk_rounds, ps_name)
            if not po:
                continue
            ratios = ["%.2fx" % (x / y) for x, y in zip(po["all_seconds"], ps["all_seconds"])] if ps else []
            add(
                "| %s / %s | %s | %s | %s |"
                % (
                    po_name,
                    ps_name,
                    ", ".join("%.2f" % v for v in po["all_seconds"]),
                    ", ".join("%.2f" % v for v in ps["all_seconds"]) if ps else "—",
                    ", ".join(ratios) or "—",
                )
            )
        add("")

    # --- requests per 1000 -------------------------------------------------------
    add("### Requests per 1,000 samples")
    add("")
    add(
        "| phase | ours: HTTP requests | ours: GraphQL ops | ours: storage PUTs | SDK: HTTP requests | SDK: GraphQL ops | SDK: storage PUTs |"
    )
    add("|---|---:|---:|---:|---:|---:|---:|")
    scale = 1000.0 / n if n else 0
    for label, po_name, ps_name in (
        ("`annotate()` / upload", "annotate", "upload"),
        ("SDK handshake", None, "connect"),
        ("`load_annotations()` / download", "load_annotations", "download"),
    ):
        po = _phase(ours_rounds, po_name) if po_name else None
        ps = _phase(sdk_rounds, ps_name)
        so = _server(ours_rounds, po_name) if po_name else None
        ss = _server(sdk_rounds, ps_name)
        add(
            "| %s | %s | %s | %s | %s | %s | %s |"
            % (
                label,
                fmt(po and po["requests"] * scale, "%.0f"),
                fmt(so and so["graphql"] * scale, "%.0f"),
                fmt(so and so["storage_put"] * scale, "%.0f"),
                fmt(ps and ps["requests"] * scale, "%.0f"),
                fmt(ss and ss["graphql"] * scale, "%.0f"),
                fmt(ss and ss["storage_put"] * scale, "%.0f"),
            )
        )
    add("")
    counts = []
    for side, rs, phases in (("ours", ours_rounds, OURS_PHASES), ("SDK", sdk_rounds, SDK_PHASES)):
        for phase in phases[1:]:
            ph = _phase(rs, phase)
            if ph and len(set(ph["all_requests"])) > 1:
                counts.append("%s %s: %s" % (side, phase, ", ".join(str(v) for v in ph["all_requests"])))
    add(
        "Request counts are those of the first round; %s."
        % ("they were the same in every round" if not counts else "they varied: " + "; ".join(counts))
    )
    add("")

    # --- per operation -------------------------------------------------------------
    add("### GraphQL operations per phase, on the server")
    add("")
    columns = [
        ("ours annotate", ours_rounds, "annotate"),
        ("SDK connect", sdk_rounds, "connect"),
        ("SDK upload", sdk_rounds, "upload"),
        ("ours load", ours_rounds, "load_annotations"),
        ("SDK download", sdk_rounds, "download"),
        ("ours cleanup", ours_rounds, "cleanup"),
        ("SDK cleanup", sdk_rounds, "cleanup"),
    ]
    columns = [c for c in columns if _server(c[1], c[2])]
    ops = collections.OrderedDict()
    for _, rs, phase in columns:
        for op in _server(rs, phase).get("operations") or {}:
            ops[op] = True
    add("| operation | %s |" % " | ".join(c[0] for c in columns))
    add("|---|%s|" % "|".join("---:" for _ in columns))
    for op in sorted(ops, key=lambda o: (o.startswith("storage"), o)):
        add(
            "| `%s` | %s |"
            % (
                op,
                " | ".join(str((_server(rs, phase).get("operations") or {}).get(op, "")) for _, rs, phase in columns),
            )
        )
    add(
        "| **HTTP statuses** | %s |"
        % " | ".join(
            ", ".join("%s×%s" % (v, k) for k, v in sorted((_server(rs, phase).get("statuses") or {}).items()))
            for _, rs, phase in columns
        )
    )
    add(
        "| **peak calls in a 60 s window** | %s |"
        % " | ".join(str(_server(rs, phase).get("peak_max", "")) for _, rs, phase in columns)
    )
    add("")
    add(
        "Client-side requests by endpoint (first round): %s."
        % "; ".join(
            "%s %s: %s"
            % (
                side,
                phase,
                ", ".join(
                    "%d× `%s`" % (v, k) for k, v in (_phase(rs, phase) or {}).get("requests_by_endpoint", {}).items()
                )
                or "none",
            )
            for side, rs, phases in (("ours", ours_rounds, OURS_PHASES[1:]), ("SDK", sdk_rounds, SDK_PHASES[1:]))
            for phase in phases
            if _phase(rs, phase)
        )
    )
    add("")

    # --- budget ------------------------------------------------------------------------
    budget = report.get("budget")
    if budget:
        brs = budget.get("rounds") or []
        knobs = budget.get("knobs") or {}
        add("### Under Kili's call budget (`--budget`)")
        add("")
        add(
            "Ours again in every round (%d round%s, in the alternating order with the others, fresh subprocess, "
            "same config: the client paces itself to %s calls per %s s) with the emulator enforcing %s calls per "
            "%g s (a call over the budget would get a 429). Compare with the unbudgeted medians above."
            % (
                len(brs),
                "" if len(brs) == 1 else "s",
                ours_config.get("max_calls", "?"),
                ours_config.get("window_seconds", "?"),
                knobs.get("max_calls"),
                knobs.get("window_seconds") or 60,
            )
        )
        add("")
        per_annotate = _server(ours_rounds, "annotate")
        per_load = _server(ours_rounds, "load_annotations")
        if per_annotate and per_load and n:
            calls_per_1000 = per_annotate["graphql"] * 1000.0 / n
            add(
                "Ours makes %.0f GraphQL calls per 1,000 samples in `annotate()` and %.0f in `load_annotations()` "
                "(storage PUTs are not API calls), so 500 calls per minute let ~%s samples per minute through "
                "`annotate()` before the client's pacing has to wait; at N=%d the whole run stays far below."
                % (
                    calls_per_1000,
                    per_load["graphql"] * 1000.0 / n,
                    "{:,}".format(int(round(500 * 1000.0 / calls_per_1000, -2))) if calls_per_1000 else "?",
                    n,
                )
            )
            add("")
        add(
            "| phase | time (s) with budget | time (s) without (median) | GraphQL ops | peak calls in a 60 s window | over the limit | 429s |"
        )
        add("|---|---:|---:|---:|---:|---:|---:|")
        for phase in OURS_PHASES[1:]:
            pb, pm, sb = _phase(brs, phase), _phase(ours_rounds, phase), _server(brs, phase)
            if not pb:
                continue
            add(
                "| %s | %s | %s | %s | %s | %s | %s |"
                % (
                    phase,
                    time_cell(pb),
                    time_cell(pm),
                    fmt(sb and sb["graphql"], "%d"),
                    fmt(sb and sb["peak_max"], "%d"),
                    fmt(sb and sb["over_limit_max"], "%d"),
                    (sb.get("statuses") or {}).get("429", 0) if sb else "—",
                )
            )
        for r in brs:
            if r.get("error"):
                add("")
                add("- **budget round %s FAILED:** `%s`" % (r.get("round"), r["error"]))
        add("")

    # --- sanity ----------------------------------------------------------------------------
    add("### Sanity")
    add("")
    add(
        "- labels before: %s; expected after the annotator's edits: %s; after the download: ours **%s**, SDK **%s** (per round)"
        % (
            report.get("labels_before"),
            report.get("labels_expected"),
            ", ".join(str(r.get("labels_after_load")) for r in _ok(ours_rounds)) or "—",
            ", ".join(str(r.get("labels_after_load")) for r in _ok(sdk_rounds)) or "—",
        )
    )
    indices = list(range(n))
    for side, rs in (
        ("ours", ours_rounds),
        ("SDK", sdk_rounds),
        ("ours under the budget", (budget or {}).get("rounds") or []),
    ):
        for r in rs:
            if r.get("error"):
                add("- **%s, round %s FAILED:** `%s`" % (side, r.get("round"), r["error"]))
                continue
            good, bad = check_summary(r.get("summary") or {}, indices)
            extra = ""
            if "ids_new" in r:
                extra = "; label ids: %d kept, %d new (expected: all kept, none new)" % (
                    r.get("ids_kept", 0),
                    r.get("ids_new", 0),
                )
            annotator = r.get("annotator") or {}
            add(
                "- %s, round %s: %d assets uploaded, %d labelled by the annotator (%.1f s); images whose boxes equal the "
                "expected edits (class, box within 2e-4): **%d / %d**%s%s"
                % (
                    side,
                    r.get("round"),
                    r.get("assets", 0),
                    annotator.get("annotated", 0),
                    annotator.get("seconds", 0),
                    good,
                    n,
                    (" (differ: %s)" % ", ".join(str(b) for b in bad[:10])) if bad else "",
                    extra,
                )
            )
    interfaces = [r.get("annotator", {}).get("json_interface") for r in _ok(ours_rounds) + _ok(sdk_rounds)]
    if interfaces and have_sdk:
        same = all(i == report.get("json_interface") for i in interfaces)
        add(
            "- the project's jsonInterface on the server, every round of both sides: %s"
            % ("identical" if same else "**DIFFERENT**")
        )
    add("")

    # --- where the time goes ------------------------------------------------------------
    if any(r.get("breakdown") for r in _ok(ours_rounds)):
        add("### Where ours spends its time")
        add("")
        add(
            "Wall time inside named functions during each phase (median over the rounds), taken by wrapping them in the "
            "worker (no profiler; ↳ entries are part of the entry above them; what is left of a phase is FiftyOne's own "
            "bookkeeping; calls made from several threads at once, like the file PUTs, add up their durations; the "
            '"every GraphQL query/mutation" rows overlap the rows above them).'
        )
        add("")
        for phase in ("annotate", "load_annotations", "cleanup"):
            ph = _phase(ours_rounds, phase)
            if not ph:
                continue
            add("**%s** (whole phase %.2f s)" % (phase, ph["seconds"]))
            add("")
            add("| step | seconds | calls |")
            add("|---|---:|---:|")
            per_label = collections.OrderedDict()
            for r in _ok(ours_rounds):
                for label, seconds, calls in (r.get("breakdown") or {}).get(phase) or []:
                    per_label.setdefault(label, []).append((seconds, calls))
            for label, values in per_label.items():
                shown = "&nbsp;&nbsp;↳ " + label.strip() if label.startswith("  ") else label
                add("| %s | %.2f | %d |" % (shown, statistics.median(v[0] for v in values), values[0][1]))
            add("")

    add(
        "MB = 2^20 bytes. Raw figures (per round, per endpoint, RSS at phase start, bytes sent): `bench/out/kili/report.json` (not committed)."
    )
    add("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
