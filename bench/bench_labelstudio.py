"""Benchmark: FiftyOne's built-in Label Studio backend vs ours, side by side.

One run starts one local Label Studio server of its own (data dir
``.cache/bench-ls-data``, local-files serving OFF, so both backends really
upload the media); each round of each backend runs in a fresh subprocess:
``import``, ``annotate()``, the annotator (played by the parent, through
Label Studio's REST API), ``load_annotations()``, ``results.cleanup()`` (the
built-in deletes tasks one by one: timed in round 1 only, later rounds
delete their project untimed; ``--cleanup-limit K`` times it on K tasks and
extrapolates). Then a scaling sweep of ours alone: ``annotate()`` uploading
~100 MB and ~1 GB of incompressible PNGs (memory must not grow with size).

    ./run bench labelstudio [--n 1000] [--rounds 3] [--cleanup-limit K] [--skip-memory] [--skip-baseline]
                            [--no-write] [--profile] [--backends builtin_ls,ours_ls] [--annotator-threads 2]
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from typing import Any

from harness.measure import Meter
from harness.parent import Bench, Side
from harness.report import (
    GROWTH,
    MB,
    PEAK,
    REQUESTS,
    TIME,
    Doc,
    View,
    breakdown,
    compare,
    endpoints,
    fmt,
    footer,
    header,
    per_round_table,
    results_heading,
    round_line,
    sanity,
    sweep,
    target_row,
)
from harness.workload import CACHE, MOVE, edit_of, log, make_noise_images

BUILTIN_CONFIG = "fiftyone.utils.labelstudio.LabelStudioBackendConfig"
ALIASES = {"builtin_ls": "builtin", "ours_ls": "ours"}  # the --backends names

_FO, _BI = "fiftyone.utils.annotations", "fiftyone.utils.labelstudio"
_OB, _OU, _OC = ("fo_annotation_backends.labelstudio." + m for m in ("backend", "upload", "client"))
_API = "LabelStudioAnnotationAPI."
BUILTIN_BREAKDOWN = [
    (_FO, "_build_label_schema", "FiftyOne: validate the label schema"),
    (_BI, _API + "_setup", "connect (check_connection + version)"),
    (_BI, _API + "_init_project", "list + create project"),
    (_BI, _API + "_prepare_tasks", "build tasks + predictions (reads samples)"),
    (_BI, _API + "_upload_tasks", "upload files + reimport + list tasks + predictions"),
    (_BI, _API + "download_annotations", "download_annotations (backend)"),
    (_BI, _API + "_get_matched_labeled_tasks", "  fetch tasks (paginated)"),
    (_BI, _API + "_import_annotations", "  convert results to labels"),
    (_FO, "_merge_labels", "FiftyOne: merge labels into the dataset"),
    (_BI, _API + "delete_tasks", "DELETE each task"),
    (_BI, _API + "delete_project", "DELETE project"),
]
OURS_BREAKDOWN = [
    (_FO, "_build_label_schema", "FiftyOne: validate the label schema"),
    (_OU, "normalize_label_schema", "normalize schema"),
    (_OU, "check_image_media", "check media files"),
    (_OC, "LabelStudioClient.__init__", "create client"),
    (_OC, "LabelStudioClient.check_credentials", "check credentials (health + whoami)"),
    (_OU, "Uploader._resolve_project", "find + create project"),
    (_OU, "_Media.__init__", "media: local-files check"),
    (_OU, "_Media._upload", "media: upload"),
    (_OC, "LabelStudioClient.upload_files", "  upload files (+ file-uploads lookup)"),
    (_OU, "Uploader._send_tasks", "build + import tasks with predictions"),
    (_OU, "field_values", "  read label fields (FiftyOne values())"),
    (_OU, "labels_to_results", "  convert labels to results"),
    (_OC, "LabelStudioClient.import_tasks", "  POST tasks"),
    (_OB, "LabelStudioBackend.download_annotations", "download_annotations (backend)"),
    (_OC, "LabelStudioClient.export_tasks", "  export tasks (1 request + JSON decode)"),
    ("fo_annotation_backends.core.download", "load_current_labels", "  read current labels (FiftyOne values())"),
    (_OB, "results_to_labels", "  convert results to labels"),
    (_FO, "_merge_labels", "FiftyOne: merge labels into the dataset"),
    (_OC, "LabelStudioClient.delete_project", "DELETE project"),
]


def edit_result(index: int, result: list[dict]) -> list[dict]:
    """The annotator's edit (see :func:`harness.workload.expected_boxes`) of
    a Label Studio result, in percent of the image."""
    boxes = [r for r in result if r.get("type") == "rectanglelabels"]
    if edit_of(index) == "move" and boxes:
        value = boxes[0]["value"]
        value["x"] = min(value["x"] + 100 * MOVE, 100.0 - value["width"])
    elif edit_of(index) == "delete" and boxes:
        result = [r for r in result if r is not boxes[-1]]
    return result


class LabelStudioBench(Bench):
    name = "labelstudio"
    title = "Label Studio backends: built-in vs ours"
    sides = {"builtin": Side("built-in"), "ours": Side("ours")}
    warmup_sides = ("builtin", "ours")
    server_label = "server"
    versions = ("fiftyone", "label-studio-sdk", "requests", "httpx", "psutil")

    def add_arguments(self, parser: Any) -> None:
        add = parser.add_argument
        add(
            "--cleanup-limit",
            type=int,
            default=None,
            help="time the built-in's cleanup on this many tasks, extrapolate",
        )
        add("--skip-memory", action="store_true", help="skip the ~100 MB / ~1 GB upload sweep")
        add("--big-count", type=int, default=200, help="files of the big upload (default 200, ~1 GB)")
        add("--small-count", type=int, default=20, help="files of the small upload (default 20, ~100 MB)")
        add("--big-side", type=int, default=1300, help="side of the sweep's PNGs (default 1300: ~5 MB each)")
        add("--backends", default="builtin_ls,ours_ls", help="the comparison's order (default builtin_ls,ours_ls)")
        add("--annotator-threads", type=int, default=2, help="threads of the simulated annotator (default 2)")
        add("--data-dir", default=os.path.join(CACHE, "bench-ls-data"), help="the server's data dir")

    def check_arguments(self, parser: Any, args: Any) -> None:
        self.order = [ALIASES.get(b.strip(), b.strip()) for b in args.backends.split(",") if b.strip()]
        if not self.order or any(side not in self.sides for side in self.order):
            parser.error("--backends takes builtin_ls and/or ours_ls, not %r" % args.backends)

    def side_order(self) -> list[str]:
        return [side for side in self.order if self.side_enabled(side)]

    def timeout(self) -> float:
        return 1800 + 4.0 * self.args.n

    def start_server(self) -> None:
        from fo_annotation_backends.testing.labelstudio_server import LabelStudioServer

        # the built-in decides local-files mode from the client's environment: both must upload
        for var in ("LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED", "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT"):
            os.environ.pop(var, None)
        self.server = LabelStudioServer(
            data_dir=self.args.data_dir,
            document_root=None,
            extra_env={"LABEL_STUDIO_DATA_UPLOAD_MAX_NUMBER_FILES": "10000"},
        )
        log("starting Label Studio (data dir %s; a fresh one migrates for ~40 s)..." % self.args.data_dir)
        self.server.start()
        self.url, self.api_key = self.server.url, self.server.legacy_token
        self.report["server"].update(url=self.url, version=self._get("/api/version").get("release", "?"))
        self.report["annotator_threads"] = self.args.annotator_threads
        log("Label Studio %s up at %s" % (self.report["server"]["version"], self.url))
        self.reset()

    def _get(self, path: str, **params: Any) -> Any:
        import requests

        headers = {"Authorization": "Token %s" % self.api_key}
        return requests.get(self.url + path, params=params, headers=headers, timeout=60).json()

    def delete_project(self, project_id: int) -> None:
        """Deletes a project and the media Label Studio leaves on disk."""
        import requests

        headers = {"Authorization": "Token %s" % self.api_key}
        requests.delete("%s/api/projects/%d" % (self.url, project_id), headers=headers, timeout=600)
        shutil.rmtree(os.path.join(self.server.data_dir, "media", "upload", str(int(project_id))), ignore_errors=True)

    def reset(self) -> None:
        """Deletes the projects of earlier (interrupted) runs and their media."""
        body = self._get("/api/projects", page_size=1000)
        for project in body.get("results", []) if isinstance(body, dict) else body:
            self.delete_project(project["id"])
        folder = os.path.join(self.server.data_dir, "media", "upload")
        for name in os.listdir(folder) if os.path.isdir(folder) else ():
            shutil.rmtree(os.path.join(folder, name), ignore_errors=True)

    def stop_server(self) -> None:
        server = getattr(self, "server", None)
        if server is not None and server.process is not None:
            try:
                self.reset()
            except Exception as e:
                log("could not delete leftover projects: %s" % e)
            server.stop()
            log("Label Studio stopped")

    def run_side(self, side: str, tag: str, dataset: Any) -> dict:
        extra: dict = {"cleanup_limit": self.args.cleanup_limit}
        if side == "builtin" and tag not in ("r1", "warmup"):
            extra["cleanup"] = "untimed"  # one DELETE per task: round 1 is enough
        return self.run_fiftyone(side, tag, dataset, **extra)

    def fiftyone_spec(self, side: str) -> dict:
        if side == "builtin":
            modules = [_BI, "label_studio_sdk:Client"]  # the legacy client the built-in uses
            return {
                "backend": "builtin_ls",
                "config_cls": BUILTIN_CONFIG,
                "modules": modules,
                "breakdown": BUILTIN_BREAKDOWN,
            }
        return {"backend": "ours_ls", "breakdown": OURS_BREAKDOWN}

    def annotate(self, payload: dict) -> dict:
        """Submits every task, starting from its pre-annotations (``LabelStudioAnnotator``)."""
        from concurrent.futures import ThreadPoolExecutor

        import requests

        from fo_annotation_backends.testing.labelstudio_annotator import LabelStudioAnnotator

        t0, local = time.perf_counter(), threading.local()

        def one(item: tuple[str, int]) -> int:
            if not hasattr(local, "annotator"):
                local.annotator = LabelStudioAnnotator(self.url, self.api_key)
            for attempt in range(4):
                try:
                    task_id = int(item[0])
                    local.annotator.submit(
                        task_id, edit_result(int(item[1]), local.annotator.prefilled_result(task_id))
                    )
                    return 1
                except requests.RequestException as e:  # e.g. a busy sqlite: try again
                    if attempt == 3:
                        raise RuntimeError("task %s: annotator failed: %s" % (item[0], e)) from e
                    time.sleep(1.0 + attempt)
            return 0

        with ThreadPoolExecutor(max_workers=max(1, self.args.annotator_threads)) as pool:
            done = sum(pool.map(one, sorted(payload["items"].items())))
        return {"annotated": done, "seconds": time.perf_counter() - t0}

    def after_round(self, side: str, out: dict) -> None:
        if out.get("project_id"):  # the media of the deleted project
            shutil.rmtree(
                os.path.join(self.server.data_dir, "media", "upload", str(out["project_id"])), ignore_errors=True
            )

    def extra_runs(self, base: Any) -> None:
        if self.args.skip_memory:
            return
        args = self.args
        log(
            "preparing %d noise images (~%.1f MB each)..."
            % (max(args.big_count, args.small_count), 3 * args.big_side**2 / 1e6)
        )
        paths = make_noise_images(max(args.big_count, args.small_count), args.big_side)
        self.report["sweep_file_mb"] = 3 * args.big_side**2 / 1e6
        for tag, count in (("small", args.small_count), ("big", args.big_count)):
            self.after_round("ours", self.run_sweep(tag, paths[:count]))

    def run_items(self, results: Any) -> dict:
        return dict(results.uploaded_tasks)

    def worker_cleanup(self, results: Any, spec: dict, out: dict, meter: Meter) -> None:
        out["cleanup_tasks_total"] = len(results.uploaded_tasks)
        if spec.get("cleanup") == "untimed":  # one project DELETE leaves the server as a cleanup would
            import requests

            url = "%s/api/projects/%d" % (spec["url"], results.project_id)
            requests.delete(
                url, headers={"Authorization": "Token %s" % spec["api_key"]}, timeout=600
            ).raise_for_status()
            return
        limit = spec.get("cleanup_limit")
        if spec["backend"] == "builtin_ls" and limit and limit < len(results.uploaded_tasks):
            # the one-DELETE-per-task cleanup on a subset (the project DELETE removes the rest at once)
            results.uploaded_tasks = dict(list(results.uploaded_tasks.items())[:limit])
            out["cleanup_subset"] = limit
        meter.measure("cleanup", results.cleanup)

    # --- the section ------------------------------------------------------------------------

    def _cleanup(self, v: View) -> tuple[float | None, str]:
        """The built-in's cleanup seconds for the whole run, and how it was
        measured (on a subset, extrapolated)."""
        ph = v["builtin"].phase("cleanup")
        timed = [r for r in v["builtin"].ok if "cleanup" in (r.get("phases") or {})]
        if not ph or not timed:
            return None, ""
        subset, total = timed[0].get("cleanup_subset"), timed[0].get("cleanup_tasks_total")
        if not subset:
            return ph["seconds"], ""
        return ph["seconds"] * total / subset, "measured %.2f s on %d of %d tasks, extrapolated x%.1f" % (
            ph["seconds"],
            subset,
            total,
            total / subset,
        )

    def render(self, report: dict) -> str:
        v, doc = View(report), Doc()
        builtin, ours, versions = v["builtin"], v["ours"], report["machine"]["versions"]
        header(
            doc,
            v,
            self.title,
            "bench_labelstudio",
            "label-studio-sdk %s; Label Studio server %s (local, 127.0.0.1, SQLite, local-files serving OFF, "
            "`LABEL_STUDIO_DATA_UPLOAD_MAX_NUMBER_FILES=10000`)"
            % (versions.get("label-studio-sdk"), report["server"].get("version", "?")),
            "",
            [
                "**Media:** both backends upload it (the server does not serve local files); the metadata is computed "
                "beforehand, so the built-in's `compute_metadata()` inside `annotate()` costs it nothing."
            ],
            {
                "server": "Label Studio server",
                "warmup": "both backends",
                "first": "built-in",
                "rounds": "; the built-in's one-DELETE-per-task cleanup is timed in round 1 only (later rounds delete "
                "their project untimed)",
            },
            "`LabelStudioAnnotator`, %d threads, submitting every task" % report.get("annotator_threads", 2),
        )
        results_heading(doc, v)
        full, note = self._cleanup(v)

        def builtin_time(row: dict) -> str:
            if row["builtin"] == "cleanup" and note:
                return "%.2f (%s)" % (full, note)
            return TIME(builtin, row["builtin"])

        def speed(row: dict) -> str:
            po, pb = ours.phase(row["ours"]), builtin.phase(row["builtin"])
            base = full if row["builtin"] == "cleanup" else pb and pb["seconds"]
            return fmt(po["seconds"] / base if po and base else None, "%.2fx")

        labels = {"import": "import backend modules (informational)", "cleanup": "results.cleanup()"}
        rows = [([labels.get(p, p + "()")], {"builtin": p, "ours": p}) for p in self.sides["ours"].phases]
        doc.phase_table(
            ["phase"],
            rows,
            [
                ("built-in time (s)", builtin_time, "r"),
                v.col("ours time (s)", "ours", TIME),
                ("ours / built-in", speed, "r"),
                v.col("requests built-in", "builtin", REQUESTS),
                v.col("requests ours", "ours", REQUESTS),
                v.col("peak RSS built-in (MB)", "builtin", PEAK),
                v.col("peak RSS ours (MB)", "ours", PEAK),
            ],
        )
        per_round_table(
            doc,
            v,
            [([p], {"builtin": p, "ours": p}) for p in ("annotate", "load_annotations")],
            {"builtin": "built-in", "ours": "ours"},
            ("ours", "builtin", "ours / built-in per round"),
        )
        doc.para("RSS growth during each phase (peak minus RSS at the phase start, MB):")
        doc.phase_table(
            ["phase"],
            [([p], {"builtin": p, "ours": p}) for p in self.sides["ours"].phases],
            [v.col("built-in", "builtin", GROWTH), v.col("ours", "ours", GROWTH)],
        )
        doc.add("### Sanity", "")
        sanity(
            doc,
            v,
            {s: self.sides[s].label for s in report["sides"]},
            lambda s, label, r: round_line(label, r, v.n, "tasks", "annotated"),
            [],
        )
        doc.add("### Where the time goes", "")
        breakdown(doc, v, {s: self.sides[s].label for s in report["sides"]}, "server", ", like our uploads")
        doc.add("### Requests per phase, by endpoint", "")
        endpoints(
            doc,
            v,
            {s: self.sides[s].label for s in report["sides"]},
            {s: self.sides[s].phases for s in report["sides"]},
        )
        if report.get("sweep"):
            doc.add("## Memory scaling of our backend's upload (local-files OFF)", "")
            pb = builtin.phase("annotate")
            sweep(
                doc,
                report,
                "`annotate()` with our backend, each size in a fresh subprocess, uploading incompressible random-noise "
                "PNGs of ~%.1f MB each (the built-in is not run here%s)."
                % (
                    report.get("sweep_file_mb") or 0,
                    "; its `annotate()` above grew by %+.0f MB while uploading %.1f MB"
                    % (pb["rss_growth_mb"], report["media_mb"])
                    if pb
                    else "",
                ),
            )
        self._targets(doc, v, full, note)
        footer(doc, self.out_dir, "per round, per endpoint, RSS at phase start, bytes sent")
        return doc.text()

    def _targets(self, doc: Doc, v: View, full: float | None, note: str) -> None:
        doc.add("## Targets", "")
        rows = []
        for phase in ("annotate", "load_annotations"):
            value, text = compare(v, "ours", phase, "builtin", phase)
            rows.append(target_row("%s: ours ≤ 0.8x built-in time" % phase, value, 0.8, text))
        both = [v[s].sum_phases(("import", "annotate")) for s in ("ours", "builtin")]
        if both[0] and both[1]:
            value = both[0]["seconds"] / both[1]["seconds"]
            text = "%.2fx (%.2f s vs %.2f s)" % (value, both[0]["seconds"], both[1]["seconds"])
            rows.append(
                [
                    "(annotate incl. the first call's backend import, not a target)",
                    text,
                    "yes" if value <= 0.8 else "no",
                ]
            )
        po = v["ours"].phase("cleanup")
        speedup = full / po["seconds"] if full and po and po["seconds"] else None
        text = (
            "%.0fx (%.2f s vs %.2f s%s)" % (speedup, po["seconds"], full, "; built-in " + note if note else "")
            if speedup
            else ""
        )
        rows.append(target_row("cleanup ≥ 20x faster", speedup, 20, text, at_most=False))
        points = {p.get("tag"): p for p in v.report.get("sweep") or [] if not p.get("error")}
        big, small = ((points.get(t) or {}).get("phases", {}).get("annotate") for t in ("big", "small"))
        if big:
            point = points["big"]
            imported = point["phases"].get("import")
            flat = small is not None and big["rss_peak_mb"] - small["rss_peak_mb"] < 50
            text = "peak %.0f MB absolute (process incl. FiftyOne), %+.0f MB during `annotate()`%s; %s" % (
                big["rss_peak_mb"],
                big["rss_growth_mb"],
                "; the process held %.0f MB with FiftyOne loaded, importing our backend added %+.0f MB"
                % (imported["rss_start_mb"], imported["rss_growth_mb"])
                if imported
                else "",
                "%.0f MB peak for the %.0f MB upload: %s with upload size"
                % (small["rss_peak_mb"], points["small"]["bytes"] / MB, "not growing" if flat else "GROWING")
                if small
                else "no small upload to compare",
            )
            row = target_row(
                "%.0f MB (%.2f GB) upload: peak client RSS < 300 MB" % (point["bytes"] / MB, point["bytes"] / 1e9),
                big["rss_peak_mb"],
                300,
                text,
            )
            rows.append(row[:2] + [row[2] + ("" if flat else "; growth with size **no**")])
        else:
            rows.append(["1 GB upload: peak client RSS < 300 MB", "not measured (`--skip-memory`?)", "—"])
        doc.table(["target", "result", "met?"], rows, "lll")


BENCH = LabelStudioBench
