"""Benchmark: our FastLabel backend against the FastLabel emulator under
FastLabel's call budget (scaled down), side by side with the official
FastLabel SDK used by hand (``fastlabel_sdk_baseline.py``, in its own venv).

FastLabel allows 10,000 API calls per 10 minutes and one task is one call
(its image inside it, base64), so the budget, not the transport, sets the
upload speed: pacing is the performance problem. Scaled down here so that it
binds at N=1000: by default 300 calls per 10 s, enforced by the emulator (a
call over it gets a 429) and configured in ours.

Sides, each round in a fresh subprocess: ours; the SDK with a naive fixed
sleep before every call (then the download by hand and ``delete_project``);
the SDK's plain loop (as fast as it goes: 429s); with ``--full-limit``, ours
with FastLabel's real 10,000 calls per 600 s (emulator and client), where
N=1000 never waits. Call-budget figures (achieved fraction of the budget,
pacing efficiency) come from every request's start and end.

    ./run bench fastlabel [--n 1000] [--rounds 3] [--full-limit] [--skip-baseline] [--no-write]
                          [--max-calls 300] [--window-seconds 10] [--config KEY=VALUE] [--profile]
"""

from __future__ import annotations

import concurrent.futures
import os
import secrets
import threading
import time
from typing import Any, Callable

from harness.parent import HERE, Bench, Side
from harness.report import (
    GROWTH,
    PEAK,
    REQUESTS,
    REQUESTS_VALUE,
    TIME,
    Doc,
    View,
    backend_part,
    breakdown,
    endpoints,
    fmt,
    footer,
    header,
    per_round,
    per_round_table,
    range_cell,
    round_line,
    same_counts,
    sanity,
    server_ops,
    time_cell,
)
from harness.stats import Rounds, budget_figures, median
from harness.workload import CLASSES, MOVE, edit_of

FULL_LIMIT = (10000, 600.0)  # FastLabel's documented budget
SDK_PHASES = ("import", "upload", "download", "cleanup")
TASK_CALL = "POST /v1/tasks/image"

_B, _U, _T, _C = ("fo_annotation_backends.fastlabel." + m for m in ("backend", "upload", "runtasks", "client"))
_FO, _CORE = "fiftyone.utils.annotations", "fo_annotation_backends.core."
BREAKDOWN = [
    (_FO, "_build_label_schema", "FiftyOne: validate the label schema"),
    (_U, "normalize_label_schema", "normalize schema"),
    (_U, "Uploader._check_media", "check media files"),
    (_U, "sample_image_sizes", "image sizes (from metadata)"),
    (_B, "FastLabelBackend._connect_to_api", "create client"),
    (_C, "FastLabelClient.check_credentials", "check credentials (`GET projects`)"),
    (_U, "Uploader._find_project", "find project"),
    (_U, "Uploader._create_project", "create project"),
    (_U, "Uploader._create_classes", "create classes"),
    (_U, "Uploader._convert", "convert labels (before the first request)"),
    (_U, "Uploader._send_tasks", "create the tasks (`upload_workers` threads)"),
    (_U, "field_values", "  read label fields (FiftyOne `values()`)"),
    (_U, "labels_to_task", "  convert labels to task annotations"),
    (_U, "_base64_image", "  read + base64-encode the images (threads add up)"),
    (_C, "FastLabelClient.create_task", "  `POST tasks/image` incl. pacing (threads add up)"),
    (_U, "Uploader._read_back", "read back task + annotation ids (`GET tasks/image`)"),
    (_B, "FastLabelBackend.download_annotations", "download_annotations (backend)"),
    (_CORE + "download", "load_current_labels", "  read current labels (FiftyOne `values()`)"),
    (_T, "task_to_labels", "  convert tasks to labels"),
    (_FO, "_merge_labels", "FiftyOne: merge labels into the dataset"),
    (_C, "FastLabelClient.delete_project", "delete project"),
    (_CORE + "http", "HttpSession.request", "every API call: pacing + HTTP (threads add up)"),
    (_CORE + "pacing", "Pacer._wait_for_room", "  ↳ waiting for the budget (`Pacer`; threads add up)"),
]


def edit_annotations(index: int, task: dict) -> list[dict]:
    """The annotator's edit (see :func:`harness.workload.expected_boxes`) of
    a task's annotations, in pixels; edited annotations keep their ids, as
    in FastLabel's web editor."""
    annotations = list(task.get("annotations") or [])
    boxes = [a for a in annotations if a.get("type") == "bbox"]
    if edit_of(index) == "move" and boxes:
        points, width = boxes[0]["points"], float(task["width"])
        dx = min(MOVE * width, width - max(points[0], points[2]))
        points[0] += dx
        points[2] += dx
    elif edit_of(index) == "delete" and boxes:
        annotations = [a for a in annotations if a is not boxes[-1]]
    return annotations


class FastLabelBench(Bench):
    name = "fastlabel"
    title = "FastLabel: our backend vs the official FastLabel SDK by hand, under a call budget"
    sides = {
        "ours": Side("ours"),
        "sdk": Side("SDK by hand + fixed sleep", "sdk", SDK_PHASES),
        "sdk_plain": Side("SDK by hand, plain loop", "sdk", ("import", "upload")),
        "ours_full": Side("ours, full limit"),
    }
    warmup_sides = ("ours", "sdk")
    breakdown = BREAKDOWN
    config_keys = ("upload_workers", "max_calls", "window_seconds", "max_retries", "timeout", "load_statuses")
    versions = ("fiftyone", "requests", "Pillow", "psutil")
    sdk_distribution = "fastlabel"

    def add_arguments(self, parser: Any) -> None:
        add = parser.add_argument
        add("--max-calls", type=int, default=300, help="the scaled-down budget: calls per window (default 300)")
        add("--window-seconds", type=float, default=10.0, help="the budget window in seconds (default 10)")
        add("--full-limit", action="store_true", help="in every round, also ours with FastLabel's real budget")

    def check_arguments(self, parser: Any, args: Any) -> None:
        for key in ("max_calls", "window_seconds"):
            if key in self.config:
                parser.error(
                    "set the budget with --max-calls/--window-seconds (emulator and client), not --config %s" % key
                )
        self.budget = (args.max_calls, args.window_seconds)

    def side_enabled(self, side: str) -> bool:
        return self.args.full_limit if side == "ours_full" else super().side_enabled(side)

    def knobs_of(self, side: str) -> tuple[int, float]:
        """The budget of a side's rounds (emulator and client)."""
        return FULL_LIMIT if side == "ours_full" else self.budget

    def set_budget(self, knobs: tuple[int, float] | None) -> None:
        """The emulator's budget (None: lifted)."""
        if self.control is not None and knobs is None:
            self.control.set_knobs(max_calls=None)
        elif self.control is not None and knobs is not None:
            self.control.set_knobs(max_calls=knobs[0], window_seconds=knobs[1], enforce_limit=True)

    def start_server(self) -> None:
        calls, window = self.budget
        self.start_emulator(["--max-calls", str(calls), "--window-seconds", "%g" % window])
        self.report.update(budget=list(self.budget), full_limit=list(FULL_LIMIT))
        headers = {"Authorization": "Bearer %s" % self.api_key}
        self.set_budget(None)
        self.probe(
            "`GET projects?limit=1`, budget lifted",
            lambda send: send("GET", self.url + "projects", params={"limit": 1}, headers=headers, timeout=30),
        )
        self.knobs = self.budget
        self.set_budget(self.knobs)

    def run_side(self, side: str, tag: str, dataset: Any) -> dict:
        self.knobs = self.knobs_of(side)
        self.set_budget(self.knobs)
        try:
            return super().run_side(side, tag, dataset)
        finally:
            self.knobs = self.budget
            self.set_budget(self.knobs)

    def fiftyone_spec(self, side: str) -> dict:
        calls, window = self.knobs_of(side)
        return {"config": dict(self.config, max_calls=calls, window_seconds=window), "fresh_window": True}

    def run_baseline(self, side: str, tag: str, dataset: Any) -> dict:
        spec = self.sdk_spec(dataset)
        calls, window = self.budget
        spec.update(
            mode="plain" if side == "sdk_plain" else "sleep",
            sleep_seconds=window / float(calls),
            classes=CLASSES,
            slug="sdk-%s-%s-%s" % (side.replace("_", "-"), tag, secrets.token_hex(3)),
            name="SDK baseline %s %s" % (side, tag),
        )
        env = dict(os.environ, FASTLABEL_API_URL=self.url, FASTLABEL_ACCESS_TOKEN=self.api_key)
        env.pop("PYTHONPATH", None)
        command = [self.sdk_python(), os.path.join(HERE, "fastlabel_sdk_baseline.py")]
        return self.run_worker(command, spec, "%s_%s" % (side, tag), env)

    def annotate(self, payload: dict) -> dict:
        """FastLabel's web editor, 4 threads: ``task()``, then ``submit(...,
        status="completed")``. Its calls are not API calls of the token's
        budget: the budget is lifted meanwhile, then restored afresh."""
        from fo_annotation_backends.testing.fastlabel_annotator import FastLabelAnnotator

        t0, local = time.perf_counter(), threading.local()

        def work(item: tuple[str, int]) -> int:
            if not hasattr(local, "annotator"):
                local.annotator = FastLabelAnnotator(self.url, self.api_key)
            task = local.annotator.task(item[0])
            ids = [a.get("id") for a in task.get("annotations") or []]
            after = local.annotator.submit(item[0], edit_annotations(int(item[1]), task), status="completed")
            return sum(1 for a in (after or {}).get("annotations") or [] if a.get("id") in ids)

        self.set_budget(None)
        try:
            with concurrent.futures.ThreadPoolExecutor(4) as pool:
                kept = list(pool.map(work, payload["items"].items()))
        finally:
            self.set_budget(self.knobs)
            if self.control is not None:
                self.control.reset_stats()  # the budget window starts afresh after the editor's calls
        return {"annotated": len(kept), "annotation_ids_kept": sum(kept), "seconds": time.perf_counter() - t0}

    def after_round(self, side: str, out: dict) -> None:
        calls, window = self.knobs_of(side)
        out["budget"] = {
            phase: budget_figures(
                timeline, calls, window, out["phases"][phase]["seconds"], lambda k: "/v1/" in k, TASK_CALL
            )
            for phase, timeline in (out.get("timeline") or {}).items()
            if phase in (out.get("phases") or {})
        }

    def run_items(self, results: Any) -> dict:
        return {task: sample for sample, task in results.task_ids.items()}

    # --- the section ------------------------------------------------------------------------

    def render(self, report: dict) -> str:
        v, doc, n, server = View(report), Doc(), report["n"], report["server"]
        calls, window = report.get("budget") or self.budget
        rate, (fl_calls, fl_window) = calls / float(window), FULL_LIMIT
        config = next((c for c in v["ours"].field("config") if c), {})
        versions = report["machine"]["versions"]
        made = median(v["ours"].budget("annotate", "accepted"))
        binds = (
            "; at N=%d ours' `annotate()` makes %d calls, %s than a window's %d: the budget %s"
            % (n, made, "more" if made > calls else "no more", calls, "binds" if made > calls else "does not bind")
            if made is not None
            else ""
        )
        overrides = "".join(", %s=%r" % kv for kv in (report.get("config_overrides") or {}).items())
        header(
            doc,
            v,
            self.title,
            "bench_fastlabel",
            "requests %s, Pillow %s; the FastLabel emulator of this package (`%s`) on 127.0.0.1 in a process of its "
            "own (one Python process, `ThreadingHTTPServer`; it decodes every task image with Pillow); official "
            "FastLabel SDK %s in its own venv (`.cache/fastlabel-sdk-venv`)"
            % (
                versions.get("requests"),
                versions.get("Pillow"),
                server.get("command", "?"),
                versions.get("fastlabel (SDK venv)", "not run"),
            ),
            "; each travels base64-encoded inside its `POST tasks/image`",
            [
                "**The budget:** FastLabel allows {:,} API calls per {:g} minutes ({:.1f} calls/s). Scaled down to "
                "**{} calls per {:g} s = {:.0f} calls/s**, enforced by the emulator (a call over it is answered 429 "
                "and counted as `over_limit`){}. Ours is configured with the same budget (`max_calls={}, "
                "window_seconds={:g}`); its client paces every call (`core/pacing.py` `Pacer.slot()`: a call counts "
                "while in flight and from when it ends). Each round starts with a fresh budget window (the "
                "emulator's stats and window are reset).".format(
                    fl_calls, fl_window / 60, fl_calls / fl_window, calls, window, rate, binds, calls, window
                ),
                '**Ours:** `dataset.annotate(key, backend="fastlabel", label_schema=..., max_calls=%d, '
                "window_seconds=%g%s)` (%s), then `load_annotations()` and `results.cleanup()`."
                % (
                    calls,
                    window,
                    overrides,
                    ", ".join(
                        "`%s=%s`" % (k, config[k]) for k in ("upload_workers", "max_retries", "timeout") if k in config
                    ),
                ),
                "**Baseline:** `bench/fastlabel_sdk_baseline.py`, *what a user would write by hand with the official "
                "SDK* (not a FiftyOne backend; it starts from the paths, image sizes and boxes already in memory: "
                "reading them from FiftyOne took %s s, not timed): `fastlabel.Client()`, "
                '`create_project(type="image_bbox")`, `create_annotation` per class, then `create_image_task(project, '
                "name, file_path, annotations=[bbox in pixels])` per image in a loop. The SDK does not pace and does "
                "not retry (one `requests.post` per call, a new connection each; a 429 is raised as "
                "`FastLabelInvalidException`), so two variants: **plain loop** (as fast as it goes; a failed call is "
                "recorded and the loop goes on, so the report gives both how far a loop that stops at the first error "
                "gets and how many of the whole list fail; its project is deleted untimed) and **+ fixed sleep** (the "
                "same loop with a naive `time.sleep(window / max_calls)` = %.1f ms before every call but the first of "
                "a phase, which stays under the limit whatever the latency). The fixed-sleep variant then does the "
                "download by hand after the same annotator (`get_image_tasks(project, offset, limit=1000)` until an "
                "empty page, the completed tasks' boxes back to normalised `[x, y, w, h]`; no merge into a FiftyOne "
                "dataset) and `delete_project`." % (fmt(report.get("sdk_inputs_seconds")), 1000.0 / rate)
                if v["sdk"].all or v["sdk_plain"].all
                else "",
            ],
            {
                "server": "emulator",
                "warmup": "ours and of the SDK (fixed sleep)",
                "first": "ours",
                "figures": "*Server* figures come from the emulator (`/_emulator/stats` read around each phase): 429s, "
                "`over_limit` (calls that arrived over the budget) and `peak_calls_in_window` (the most calls it "
                "admitted within any %g s, since the round start or the end of the annotator). **Achieved fraction of "
                "the budget**: accepted calls per second / %.0f, (a) over the whole phase (wall time; a fresh window "
                "lets %d calls through at once, so this can exceed 1) and (b) in *steady state*: the mean number of "
                "accepted calls starting in a sliding %g s window, over every window position from the first call to "
                "%g s before the last one, divided by %d. *Pacing efficiency* = the least time the budget allows "
                "between the first and the last call's start (%g s × floor((calls − 1) / %d)) over the actual time. "
                % (window, rate, calls, window, window, calls, window, calls),
            },
            "FastLabel's web editor through `FastLabelAnnotator`, 4 threads: `task()`, then "
            '`submit(..., status="completed")`; edited boxes keep their ids; its calls are not API calls, so the '
            "emulator's budget is lifted while it works and restored with a fresh window afterwards",
        )
        self._budget_section(doc, v, calls, window)
        self._side_by_side(doc, v)
        self._full_limit(doc, v, calls, window)
        doc.add("## Requests per 1,000 samples", "")
        doc.phase_table(
            ["phase"],
            [
                ([label], {"ours": a, "sdk": b, "sdk_plain": b})
                for label, a, b in (
                    ("`annotate()` / upload", "annotate", "upload"),
                    ("`load_annotations()` / download", "load_annotations", "download"),
                    ("cleanup", "cleanup", "cleanup"),
                )
            ],
            [
                v.col("ours", "ours", v.per_1000(REQUESTS_VALUE)),
                v.col("SDK + sleep", "sdk", v.per_1000(REQUESTS_VALUE)),
                v.col("SDK plain loop (429s included)", "sdk_plain", v.per_1000(REQUESTS_VALUE)),
            ],
        )
        labels = {"ours": "ours", "sdk": "SDK + sleep", "sdk_plain": "SDK plain"}
        doc.para(same_counts(v, labels, {s: self.sides[s].phases[1:] for s in labels}))
        doc.add("## Operations per phase, on the server (first round)", "")
        server_ops(
            doc,
            v,
            [
                ("ours annotate", "ours", "annotate"),
                ("SDK + sleep upload", "sdk", "upload"),
                ("SDK plain upload", "sdk_plain", "upload"),
                ("ours load", "ours", "load_annotations"),
                ("SDK + sleep download", "sdk", "download"),
                ("ours cleanup", "ours", "cleanup"),
                ("SDK + sleep cleanup", "sdk", "cleanup"),
            ],
        )
        doc.add("## Requests per phase, by endpoint (client side, first round)", "")
        endpoints(doc, v, labels, {s: self.sides[s].phases for s in labels})
        doc.add("## Sanity", "")
        sanity(
            doc,
            v,
            {s: side.label for s, side in self.sides.items()},
            lambda s, label, r: self._round_line(s, label, r, n),
            [],
        )
        self._where_time_goes(doc, v, calls, window, config)
        footer(
            doc, self.out_dir, "per round: every request's start, end and status, per endpoint, RSS at phase start, CPU"
        )
        return doc.text()

    @staticmethod
    def _round_line(side: str, label: str, r: dict, n: int) -> str:
        if side != "sdk_plain":
            kept = (r.get("annotator") or {}).get("annotation_ids_kept", 0)
            return round_line(label, r, n, "tasks", "submitted", ", %d annotation ids kept by the editor" % kept)
        codes = ", ".join("%s× HTTP %s" % (v, k) for k, v in sorted((r.get("failure_codes") or {}).items()))
        return (
            "- %s, round %s: %d tasks created, %d failed (%s), first failure at task #%s; no annotator, no download"
            % (
                label,
                r.get("round"),
                r.get("tasks_created", 0),
                r.get("tasks_failed", 0),
                codes or "none",
                r.get("first_failure_position"),
            )
        )

    def _budget_section(self, doc: Doc, v: View, calls: int, window: float) -> None:
        ours, sdk, plain = v["ours"], v["sdk"], v["sdk_plain"]
        rounds = v.report.get("rounds_run", 1)
        doc.add(
            "## The budget: %d calls per %g s (%.0f calls/s), N=%d%s"
            % (calls, window, calls / window, v.n, ", median of %d rounds" % rounds if rounds > 1 else ""),
            "",
        )
        verdict = []
        steady = ours.budget("annotate", "steady_fraction")
        if steady:
            phases = self.sides["ours"].phases
            over = sum(sum((ours.server(p) or {}).get("all_over_limit") or []) for p in phases)
            c429 = sum(sum((ours.server(p) or {}).get("all_429") or []) for p in phases)
            verdict.append(
                "**Ours, `annotate()`: %.3f of the budget in steady state (worst round %.3f; target ≥ 0.9: %s), %.2f "
                "over the whole phase; calls over the budget seen by the emulator: %d, 429s: %d in %s (target 0: %s).**"
                % (
                    median(steady),
                    min(steady),
                    "met" if min(steady) >= 0.9 else "NOT MET",
                    median(ours.budget("annotate", "phase_fraction")) or 0,
                    over,
                    c429,
                    "%d round%s" % (len(ours.ok), "" if len(ours.ok) == 1 else "s"),
                    "met" if not over and not c429 else "NOT MET",
                )
            )
        sdk_steady, pu, po = sdk.budget("upload", "steady_fraction"), sdk.phase("upload"), ours.phase("annotate")
        if sdk_steady and pu and po:
            per_call = 1000.0 * pu["seconds"] / max(1, median(sdk.budget("upload", "accepted")) or 1)
            verdict.append(
                "The SDK with a fixed sleep reaches %.3f in steady state (its sleep adds to each call's latency: %.1f ms "
                "per call in all against the budget's %.1f ms) and takes %.1f s to upload, ours %.1f s."
                % (median(sdk_steady), per_call, 1000.0 * window / calls, pu["seconds"], po["seconds"])
            )
        if plain:
            first = median(f for f in plain.field("first_failure_position") if f is not None)
            verdict.append(
                "The SDK's plain loop gets a 429 at task #%s (median; a loop that stops at the first error has created "
                "that many tasks out of %d); going on regardless, %s of %d tasks fail."
                % (fmt(first, "%d"), v.n, range_cell([r.get("tasks_failed", 0) for r in plain.ok], "%d"), v.n)
            )
        doc.para(*verdict)
        rows = []
        for side, phases in (
            ("ours", self.sides["ours"].phases[1:]),
            ("sdk", SDK_PHASES[1:]),
            ("sdk_plain", ("upload",)),
        ):
            rs = v[side]
            for phase in phases:
                ph, s = rs.phase(phase), rs.server(phase) or {}
                if not ph:
                    continue
                api = rs.budget(phase, "calls")
                binding, refused = bool(api) and max(api) > calls, side == "sdk_plain"
                steady_values = rs.budget(phase, "steady_fraction")
                rows.append(
                    [
                        self.sides[side].label,
                        phase,
                        time_cell(ph),
                        range_cell(api, "%d"),
                        range_cell(rs.budget(phase, "accepted"), "%d"),
                        per_round(s.get("all_429", [])),
                        per_round(s.get("all_over_limit", [])),
                        fmt(s.get("peak_max"), "%d"),
                        range_cell(rs.budget(phase, "phase_rate"), "%.1f") if binding else "—",
                        "— (most calls refused)"
                        if refused
                        else range_cell(rs.budget(phase, "phase_fraction"), "%.2f")
                        if binding
                        else "not binding (%s call(s))" % fmt(median(api), "%d"),
                        "**%s**" % range_cell(steady_values, "%.3f") if steady_values else "—",
                        range_cell(rs.budget(phase, "pacing_efficiency"), "%.3f") if binding and not refused else "—",
                    ]
                )
        doc.table(
            ["run", "phase", "time (s)", "API calls", "accepted", "429s", "over the budget (emulator)"]
            + ["peak calls in a %g s window (emulator)" % window, "accepted calls/s over the phase"]
            + ["fraction of the budget: whole phase", "fraction: steady state", "pacing efficiency"],
            rows,
            "ll" + "r" * 10,
        )
        doc.para(
            "429s and over-the-budget counts are per round (in the order run). *Peak* is the worst round; it can only "
            "reach %d (calls over it are refused, and counted as over the budget). The least time the budget allows "
            "between the first and the last call's start of the upload: %s s for %s calls (pacing efficiency = that "
            "over the actual time; it takes each window's calls as sent instantaneously, so it is below 1 by the time "
            "the last, partial window's calls take to send: see *Where ours spends its time*)."
            % (
                calls,
                fmt(median(ours.budget("annotate", "lower_bound")), "%.0f"),
                fmt(median(ours.budget("annotate", "accepted")), "%d"),
            )
        )

    def _side_by_side(self, doc: Doc, v: View) -> None:
        doc.add("## Time, requests and memory, side by side", "")
        failed = range_cell([r.get("tasks_failed", 0) for r in v["sdk_plain"].ok], "%d")

        def plain_time(row: dict) -> str:
            ph = v["sdk_plain"].phase(row.get("sdk_plain"))
            return time_cell(ph) + (" (with %s× 429)" % failed if ph and row.get("ours") == "annotate" else "")

        doc.phase_table(
            ["phase (ours / baseline)"],
            [
                ([label], {"ours": a, "sdk": b, "sdk_plain": c})
                for label, a, b, c in (
                    ("import modules (informational)", "import", "import", "import"),
                    ("`annotate()` / upload", "annotate", "upload", "upload"),
                    ("`load_annotations()` / download", "load_annotations", "download", None),
                    ("`results.cleanup()` / `delete_project`", "cleanup", "cleanup", None),
                )
            ],
            [
                v.col("ours time (s)", "ours", TIME),
                v.col("SDK + sleep time (s)", "sdk", TIME),
                v.ratio_col("ours / SDK + sleep", "ours", "sdk"),
                ("SDK plain loop time (s)", plain_time, "r"),
                v.col("requests ours", "ours", REQUESTS),
                v.col("requests SDK + sleep", "sdk", REQUESTS),
                v.col("requests SDK plain", "sdk_plain", REQUESTS),
                v.col("peak RSS ours (MB)", "ours", PEAK),
                v.col("peak RSS SDK + sleep (MB)", "sdk", PEAK),
                v.col("RSS growth ours (MB)", "ours", GROWTH),
                v.col("RSS growth SDK + sleep (MB)", "sdk", GROWTH),
            ],
        )
        doc.para(backend_part(v, "ours", "sdk", "download", "the SDK's", "the calls"))
        per_round_table(
            doc,
            v,
            [
                (["%s / %s" % (a, b)], {"ours": a, "sdk": b, "sdk_plain": b, "ours_full": a})
                for a, b in (("annotate", "upload"), ("load_annotations", "download"), ("cleanup", "cleanup"))
            ],
            {"ours": "ours", "sdk": "SDK + sleep", "sdk_plain": "SDK plain loop", "ours_full": "ours, full limit"},
        )

    def _full_limit(self, doc: Doc, v: View, calls: int, window: float) -> None:
        full = v["ours_full"]
        if not full.all:
            return
        fl_calls, fl_window = FULL_LIMIT
        made = median(full.budget("annotate", "accepted"))
        doc.add("## Ours with FastLabel's real budget (`--full-limit`: %d calls per %g s)" % FULL_LIMIT, "")
        per_minute = 60.0 * fl_calls / fl_window * v.n / made if made else None
        doc.para(
            "Ours again in every round (fresh subprocess, same config but `max_calls=%d, window_seconds=%g`, the "
            "emulator enforcing the same): at N=%d (%s calls, %s a window's %d) %s. With FastLabel's real budget a run "
            "goes at this speed for its first %d calls in any %g minutes, then at most %.1f calls/s (%s samples per "
            "minute at this run's calls per sample)."
            % (
                fl_calls,
                fl_window,
                v.n,
                fmt(made, "%d"),
                "fewer than" if made is not None and made <= fl_calls else "more than",
                fl_calls,
                "the budget never makes the client wait, so this is the upload speed the transport, the emulator and "
                "the client allow, i.e. what the scaled-down budget throttles"
                if made is not None and made <= fl_calls
                else "the budget binds here too",
                fl_calls,
                fl_window / 60,
                fl_calls / fl_window,
                fmt(per_minute, "about %.0f"),
            )
        )

        def budget_value(key: str, pattern: str) -> Callable[[Rounds, str], str]:
            return lambda r, p: range_cell(r.budget(p, key), pattern) if p == "annotate" else "—"

        def server_list(key: str) -> Callable[[Rounds, str], str]:
            return lambda r, p: per_round((r.server(p) or {}).get(key, []))

        doc.phase_table(
            ["phase"],
            [([p], {"ours_full": p, "ours": p}) for p in self.sides["ours"].phases[1:] if full.phase(p)],
            [
                v.col("time (s), full limit", "ours_full", TIME),
                v.col("time (s), %d per %g s" % (calls, window), "ours", TIME),
                v.col("API calls", "ours_full", lambda r, p: range_cell(r.budget(p, "calls"), "%d")),
                v.col("calls/s over the phase", "ours_full", budget_value("phase_rate", "%.1f")),
                v.col("calls/s between the first and last call", "ours_full", budget_value("span_rate", "%.1f")),
                v.col("429s", "ours_full", server_list("all_429")),
                v.col("over the budget", "ours_full", server_list("all_over_limit")),
                v.col("peak RSS (MB)", "ours_full", PEAK),
                v.col("RSS growth (MB)", "ours_full", GROWTH),
            ],
        )

    def _where_time_goes(self, doc: Doc, v: View, calls: int, window: float, config: dict) -> None:
        ours, full, sdk = v["ours"], v["ours_full"], v["sdk"]
        doc.add("## Where ours spends its time", "")
        po, nproc = ours.phase("annotate"), v.report["machine"].get("nproc") or 1

        def b(rs: Rounds, key: str) -> Any:
            return median(rs.budget("annotate", key))

        first, last_end, accepted = b(ours, "first_start"), b(ours, "last_end"), b(ours, "accepted") or 0
        if po and first is not None and last_end is not None:
            starts = list(zip(*ours.budget("annotate", "window_starts")))
            boundary = [median(c) for c in starts]
            cpu = [ours.cpu("annotate", w) for w in ("client", "server")]
            used = sum(c for c in cpu if c is not None) / (nproc * po["seconds"])
            doc.para(
                "`annotate()` under the budget (median %.2f s) = %.2f s before the first API call (FiftyOne's schema "
                "validation, checking the files) + %.2f s from the first call to the end of the last + %.2f s after it "
                "(FiftyOne saving the run). A fresh window lets the first %d calls go at once; each later call may start "
                "%g s after the end of the call it replaces, so every window's calls replay the first window's pattern."
                % (po["seconds"], first, last_end - first, po["seconds"] - last_end, calls, window),
                "Calls %s started %s s after the first (median of the rounds; the budget allows %s s after the *ends* "
                "of the calls they replace): %s ms later than a whole number of windows after the first call's start."
                % (
                    ", ".join("#%d" % (calls * (k + 1) + 1) for k in range(len(boundary))) or "—",
                    ", ".join("%.3f" % x for x in boundary) or "—",
                    ", ".join("%g" % (window * (k + 1)) for k in range(len(boundary))) or "—",
                    ", ".join("%.0f" % (1000 * (x - window * (k + 1))) for k, x in enumerate(boundary)) or "—",
                )
                if boundary
                else "",
                "Over all calls, a call started %s ms (median; mean %s ms) after the moment the budget allowed it: "
                "within a window the client sends at its own burst speed (below)."
                % (fmt(b(ours, "pacer_delay_ms_median"), "%.0f"), fmt(b(ours, "pacer_delay_ms_mean"), "%.0f")),
                "The last, partial window's %d calls took %s s, which the lower bound (%s s for %d calls, each window's "
                "calls taken as sent instantaneously) leaves out: %s s of it is the gap between the set-up calls "
                "(credentials, project, classes) and the first task in the first window (reading the label fields and "
                "converting every sample's labels before the first task is sent): every later window replays it, so it "
                "delays the end once; the rest is sending the last tasks at burst speed and the read-back."
                % (
                    int(accepted - (accepted - 1) // calls * calls) if accepted else 0,
                    fmt(b(ours, "last_window_seconds")),
                    fmt(b(ours, "lower_bound"), "%.0f"),
                    accepted,
                    fmt(b(ours, "first_task_gap")),
                ),
                "A task `POST` takes %s ms (median; p90 %s ms) on the client, %s in flight; CPU during the phase: "
                "client %s s, emulator %s s (%d CPUs: %.0f CPU-seconds available, %.0f%% used): %s."
                % (
                    fmt(b(ours, "task_post_ms_median"), "%.1f"),
                    fmt(b(ours, "task_post_ms_p90"), "%.1f"),
                    config.get("upload_workers", "?"),
                    fmt(cpu[0], "%.1f"),
                    fmt(cpu[1], "%.1f"),
                    nproc,
                    nproc * po["seconds"],
                    100 * used,
                    "CPU is not what limits it" if used < 0.5 else "CPU may be what limits it",
                ),
            )
        pf = full.phase("annotate")
        if pf:
            ceiling = (b(full, "span_rate") or 0) / (calls / window)
            doc.para(
                "With the full limit (no wait) the same upload takes %.2f s: the %s accepted calls go at %s calls/s "
                "between the first and the last (task `POST` %s ms median, p90 %s ms; CPU: client %s s, emulator %s s). "
                "That is the ceiling the client reaches in a burst, %.1fx the scaled-down budget's %.0f calls/s, so %s."
                % (
                    pf["seconds"],
                    fmt(b(full, "accepted"), "%d"),
                    fmt(b(full, "span_rate"), "%.0f"),
                    fmt(b(full, "task_post_ms_median"), "%.1f"),
                    fmt(b(full, "task_post_ms_p90"), "%.1f"),
                    fmt(full.cpu("annotate", "client"), "%.1f"),
                    fmt(full.cpu("annotate", "server"), "%.1f"),
                    ceiling,
                    calls / window,
                    "the budget, not the client, sets the pace under it"
                    if ceiling > 1
                    else "the client, not the budget, sets the pace",
                )
            )
        ps = sdk.phase("upload")
        if ps:
            sent = median(sdk.budget("upload", "accepted")) or 1
            doc.para(
                "The SDK + sleep upload: %d calls, %.1f s of it sleeping, a task `POST` %s ms (median, a new connection "
                "each): %.1f ms per call in all against the budget's %.1f ms."
                % (
                    sent,
                    median(sdk.field("slept_seconds")) or 0,
                    fmt(median(sdk.budget("upload", "task_post_ms_median")), "%.1f"),
                    1000.0 * ps["seconds"] / sent,
                    1000.0 * window / calls,
                )
            )
        breakdown(doc, v, {"ours": "ours"}, "emulator", '; the "every API call" rows overlap the rows above them')


BENCH = FastLabelBench
