"""Benchmark: our Kili backend against the Kili emulator, side by side with
the official Kili SDK doing the same work by hand (``kili_sdk_baseline.py``,
in the SDK's own venv).

Sides, each round in a fresh subprocess against one Kili emulator (a process
of its own, no call budget): ours (``import``, ``annotate()``, the annotator
played by the parent, ``load_annotations()``, ``cleanup()``); the SDK
(``import``, the start-up handshake ``connect``, ``upload``, the annotator,
``download``, ``cleanup``); with ``--budget``, ours again with the emulator
enforcing Kili's 500 calls per 60 s.

    ./run bench kili [--n 1000] [--rounds 3] [--budget] [--skip-baseline] [--no-write]
                     [--profile] [--config KEY=VALUE] [--no-warmup] [--keep-datasets] [--results FILE]
"""

from __future__ import annotations

import json
import os
import shutil
import time
from typing import Any

from harness.parent import HERE, Bench, Side
from harness.report import (
    API_OPS,
    API_OPS_VALUE,
    GROWTH,
    PEAK,
    REQUESTS,
    REQUESTS_VALUE,
    TIME,
    Doc,
    View,
    backend_part,
    breakdown,
    compare,
    endpoints,
    fmt,
    footer,
    header,
    per_round_table,
    results_heading,
    round_line,
    same_counts,
    sanity,
    server_ops,
    time_cell,
)
from harness.stats import Rounds
from harness.workload import FIELD, LABEL_SCHEMA, MOVE, edit_of

KILI_BUDGET = {"max_calls": 500, "window_seconds": 60.0}  # Kili's documented budget
ANNOTATOR = "annotator@example.com"
MODEL_NAME = "fiftyone"  # our backend's default model_name, used by the baseline too
SDK_PHASES = ("import", "connect", "upload", "download", "cleanup")

_B, _U, _C, _D = ("fo_annotation_backends.kili." + m for m in ("backend", "upload", "client", "download"))
_FO, _CORE = "fiftyone.utils.annotations", "fo_annotation_backends.core.download"
BREAKDOWN = [
    (_FO, "_build_label_schema", "FiftyOne: validate the label schema"),
    (_U, "normalize_label_schema", "normalize schema"),
    (_U, "check_image_media", "check media files"),
    (_B, "KiliBackend._connect_to_api", "create client"),
    (_C, "KiliClient.viewer", "check credentials (viewer)"),
    (_U, "Uploader._resolve_project", "find + create project"),
    (_U, "Uploader._upload", "upload assets + predictions (batches of 100)"),
    (_U, "field_values", "  read label fields (FiftyOne values())"),
    (_U, "labels_to_json_response", "  convert labels to jsonResponse"),
    (_C, "KiliClient.signed_upload_urls", "  signed upload URLs (30 a call)"),
    (_C, "KiliClient.upload_file", "  PUT files (upload_workers threads; durations add up)"),
    (_C, "KiliClient.append_assets", "  appendManyAssets (100 a call)"),
    (_C, "KiliClient.append_predictions", "  appendManyLabels PREDICTION (100 a call)"),
    (_B, "KiliBackend.download_annotations", "download_annotations (backend)"),
    (_CORE, "load_current_labels", "  read current labels (FiftyOne values())"),
    (_D, "json_response_to_labels", "  convert jsonResponse to labels"),
    (_C, "KiliClient.query", "every GraphQL query (incl. the JSON decode)"),
    (_C, "KiliClient.mutate", "every GraphQL mutation"),
    (_FO, "_merge_labels", "FiftyOne: merge labels into the dataset"),
    (_C, "KiliClient.delete_project", "delete project"),
]


def edit_response(index: int, response: dict) -> dict:
    """The annotator's edit (see :func:`harness.workload.expected_boxes`) of
    a Kili jsonResponse, normalised vertices."""
    for job in response.values():
        if not isinstance(job, dict) or "annotations" not in job:
            continue
        rectangles = [a for a in job["annotations"] if a.get("type") == "rectangle"]
        if edit_of(index) == "move" and rectangles:
            vertices = rectangles[0]["boundingPoly"][0]["normalizedVertices"]
            dx = min(MOVE, 1.0 - max(v["x"] for v in vertices))
            for v in vertices:
                v["x"] += dx
        elif edit_of(index) == "delete" and rectangles:
            job["annotations"] = [a for a in job["annotations"] if a is not rectangles[-1]]
    return response


class KiliBench(Bench):
    name = "kili"
    title = "Kili: our backend vs the official Kili SDK by hand"
    sides = {
        "ours": Side("ours"),
        "sdk": Side("SDK", "sdk", SDK_PHASES),
        "ours_budget": Side("ours under the budget"),
    }
    warmup_sides = ("ours", "sdk")
    non_api_ops = ("storage_put", "storage_get", "version", "other")
    path_rules = (("^/storage/.*", "/storage/{path}"),)
    breakdown = BREAKDOWN
    config_keys = ("upload_workers", "download_page_size", "max_calls", "window_seconds", "model_name")
    reset_stats_per_phase = True
    versions = ("fiftyone", "requests", "graphql-core", "psutil")
    sdk_distribution = "kili"

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--budget", action="store_true", help="in every round, also ours with the emulator enforcing Kili's budget"
        )

    def side_enabled(self, side: str) -> bool:
        return self.args.budget if side == "ours_budget" else super().side_enabled(side)

    def prepare(self, base: Any) -> None:
        from fo_annotation_backends.core.schema import normalize_label_schema
        from fo_annotation_backends.kili.backend import SUPPORTED_TYPES
        from fo_annotation_backends.kili.convert import KiliInterface

        interface = KiliInterface(normalize_label_schema(LABEL_SCHEMA, base, SUPPORTED_TYPES))
        self.report["json_interface"] = interface.json_interface()  # the one our backend builds
        self.job = interface.job_name(FIELD)
        # a fresh SDK schema cache: the warm-up fills it (the SDK's one-time introspection)
        self.schema_cache = os.path.join(self.out_dir, "sdk-schema-cache")
        shutil.rmtree(self.schema_cache, ignore_errors=True)

    def start_server(self) -> None:
        from fo_annotation_backends.testing.kili_annotator import KiliAnnotator

        self.start_emulator([])
        self.report["server"]["knobs"] = self.control.set_knobs(max_calls=None) if self.control else {}
        body = {"query": "query { data: viewer { id email } }"}
        headers = {"Authorization": "X-API-Key: %s" % self.api_key}
        self.probe(
            "a GraphQL `viewer` query", lambda send: send("POST", self.url, json=body, headers=headers, timeout=30)
        )
        self.annotator = KiliAnnotator(self.url, self.api_key)
        self.report["budget_knobs"] = KILI_BUDGET

    def run_side(self, side: str, tag: str, dataset: Any) -> dict:
        if side != "ours_budget" or self.control is None:
            return super().run_side(side, tag, dataset)
        self.control.set_knobs(enforce_limit=True, **KILI_BUDGET)
        try:
            return self.run_fiftyone(side, tag, dataset)
        finally:
            self.control.set_knobs(max_calls=None)

    def run_baseline(self, side: str, tag: str, dataset: Any) -> dict:
        spec = self.sdk_spec(dataset)
        spec.update(
            json_interface=self.report["json_interface"],
            job=self.job,
            schema_cache_dir=self.schema_cache,
            model_name=MODEL_NAME,
            title="SDK baseline %s" % tag,
            description="bench_kili.py SDK baseline %s" % tag,
        )
        env = dict(os.environ, HOME=os.path.join(self.out_dir, "sdk-home"), KILI_DISABLE_TQDM="true")
        for name in ("KILI_SDK_SKIP_CHECKS", "KILI_API_KEY", "KILI_API_ENDPOINT", "PYTHONPATH"):
            env.pop(name, None)
        os.makedirs(env["HOME"], exist_ok=True)
        command = [self.sdk_python(), os.path.join(HERE, "kili_sdk_baseline.py")]
        return self.run_worker(command, spec, "%s_%s" % (side, tag), env)

    def annotate(self, payload: dict) -> dict:
        """Reads every asset's latest label (the pre-annotation), edits it
        and submits DEFAULT labels (``KiliAnnotator.submit_many``)."""
        t0 = time.perf_counter()
        project_id, graphql = payload["project_id"], self.annotator.graphql
        prefilled: dict = {}
        while True:
            page = graphql(
                "query($where: AssetWhere!, $first: PageSize!, $skip: Int!) { data: assets(where: $where, "
                "first: $first, skip: $skip) { id labels { labelType createdAt jsonResponse } } }",
                {"where": {"project": {"id": project_id}}, "first": 500, "skip": len(prefilled)},
            )["data"]
            for asset in page:
                labels = asset.get("labels") or []
                pool = [x for x in labels if x["labelType"] in ("DEFAULT", "REVIEW")]
                pool = pool or [x for x in labels if x["labelType"] == "PREDICTION"]
                response = max(pool, key=lambda x: x["createdAt"])["jsonResponse"] if pool else {}
                prefilled[asset["id"]] = json.loads(response) if isinstance(response, str) else (response or {})
            if len(page) < 500:
                break
        missing = [a for a in payload["items"] if a not in prefilled]
        if missing:
            raise RuntimeError("%d assets of the run are not in project %s" % (len(missing), project_id))
        labels = [(a, edit_response(int(i), prefilled[a])) for a, i in payload["items"].items()]
        ids = self.annotator.submit_many(project_id, labels, author=ANNOTATOR)
        projects = graphql(
            "query($where: ProjectWhere!) { data: projects(where: $where, first: 1, skip: 0) { jsonInterface } }",
            {"where": {"id": project_id}},
        )["data"]
        interface = projects[0]["jsonInterface"] if projects else None
        interface = json.loads(interface) if isinstance(interface, str) else interface
        return {"annotated": len(ids), "seconds": time.perf_counter() - t0, "json_interface": interface}

    def run_items(self, results: Any) -> dict:
        return {asset: sample for sample, asset in results.asset_ids.items()}

    # --- the section ------------------------------------------------------------------------

    def render(self, report: dict) -> str:
        v, doc, n = View(report, self.non_api_ops), Doc(), report["n"]
        ours, sdk, server = v["ours"], v["sdk"], report["server"]
        config = next((c for c in ours.field("config") if c), {})
        versions, overrides = report["machine"]["versions"], report.get("config_overrides") or {}
        header(
            doc,
            v,
            self.title,
            "bench_kili",
            "requests %s; the Kili emulator of this package (`%s`, graphql-core %s) on 127.0.0.1 in a process of its "
            "own, no call budget, no faults; official Kili SDK %s in its own venv (`.cache/kili-sdk-venv`)"
            % (
                versions.get("requests"),
                server.get("command", "?"),
                versions.get("graphql-core"),
                versions.get("kili (SDK venv)", "not run"),
            ),
            ", local files: both sides upload them through signed storage URLs",
            [
                '**Ours:** `dataset.annotate(key, backend="kili", label_schema=...)` with %s (%s), then '
                "`load_annotations()` and `results.cleanup()`."
                % (
                    "the config overridden by `--config` (%s)" % json.dumps(overrides)
                    if overrides
                    else "the default config",
                    ", ".join("`%s=%s`" % (k, config[k]) for k in self.config_keys[:4] if k in config),
                ),
                "**Baseline:** `bench/kili_sdk_baseline.py`, *what a user would write by hand with the official SDK*; "
                "it is not a FiftyOne backend (FiftyOne has no built-in Kili backend). It starts from the file paths "
                "and boxes already in memory (reading them from FiftyOne is not timed), and does: `create_project` "
                "with the same jsonInterface our backend builds; `append_many_to_dataset` of the same local files "
                "with external ids; its own conversion of the boxes to jsonResponses (FiftyOne label ids as `mid`); "
                '`append_labels` of them as PREDICTION labels (`model_name="%s"`); after the annotator, '
                "`kili.assets(project_id, fields=[id, externalId, labels.jsonResponse, labels.labelType, "
                "labels.createdAt, labels.author.email])`, the latest DEFAULT/REVIEW label of each asset, converted "
                "back to boxes (no merge into a FiftyOne dataset: that part of our `load_annotations()` has no "
                "counterpart); `delete_project`. The SDK's start-up handshake (`Kili(...)`: viewer, version, "
                "apiKeys; the GraphQL schema comes from the SDK's on-disk cache, filled once by the warm-up) is "
                "timed as a phase of its own (`connect`), and also shown added to the upload." % MODEL_NAME
                if sdk.all
                else "",
            ],
            {
                "server": "emulator",
                "warmup": "both",
                "first": "ours",
                "requests": ", GraphQL calls and storage PUTs together",
                "figures": "*GraphQL ops* = GraphQL root fields the emulator executed during the phase "
                "(`/_emulator/stats`, reset before each phase; storage transfers not included). ",
            },
            "`KiliAnnotator.submit_many`, DEFAULT labels as `%s`, 100 per call" % ANNOTATOR,
        )
        results_heading(doc, v)
        pairs = (("annotate", "upload"), ("load_annotations", "download"), ("cleanup", "cleanup"))
        if ours and sdk:
            said = ["`%s()` / the SDK's %s: %s" % (a, b, compare(v, "ours", a, "sdk", b)[1]) for a, b in pairs]
            doc.para("Ours against the SDK by hand, time: %s." % "; ".join(said))
        rows = [
            (["import modules (informational)"], {"ours": "import", "sdk": "import"}),
            (["SDK start-up handshake (`Kili(...)`)"], {"sdk": "connect"}),
            (["`annotate()` / upload"], {"ours": "annotate", "sdk": "upload"}),
            (["`load_annotations()` / download"], {"ours": "load_annotations", "sdk": "download"}),
            (["`results.cleanup()` / `delete_project`"], {"ours": "cleanup", "sdk": "cleanup"}),
        ]
        po, ps = ours.phase("annotate"), sdk.sum_phases(("connect", "upload"))
        both = "(`annotate()` vs handshake + upload)", time_cell(po), time_cell(ps)
        extra = [list(both) + ["%.2fx" % (po["seconds"] / ps["seconds"])] + [""] * 8] if po and ps else []
        sides = {"ours": "ours", "sdk": "SDK"}
        doc.phase_table(
            ["phase (ours / baseline)"],
            rows,
            [
                (
                    "ours time (s)",
                    lambda row: TIME(ours, row["ours"]) if row.get("ours") else "(inside `annotate()`)",
                    "r",
                ),
                v.col("SDK time (s)", "sdk", TIME),
                v.ratio_col("ours / SDK", "ours", "sdk"),
            ]
            + [
                v.col(head % label, side, cell)
                for head, cell in (("requests %s", REQUESTS), ("GraphQL ops %s", API_OPS))
                for side, label in sides.items()
            ]
            + [
                v.col(head % label, side, cell)
                for head, cell in (("peak RSS %s (MB)", PEAK), ("RSS growth %s (MB)", GROWTH))
                for side, label in sides.items()
            ],
            extra,
        )
        doc.para(backend_part(v, "ours", "sdk", "download", "the SDK's", "the queries"))
        inputs, pu = report.get("sdk_inputs_seconds"), sdk.phase("upload")
        if inputs is not None and po and pu:
            validate = (ours.breakdown("annotate").get("FiftyOne: validate the label schema") or (None,))[0]
            doc.para(
                "The baseline starts from the paths and boxes in memory. Reading them from the FiftyOne dataset, as a "
                "by-hand script would have to, took %.2f s (one `values()` call, timed once in the parent): upload + "
                "that read = %.2f s, ours / that = %.2fx. `annotate()` also includes FiftyOne's own label-schema "
                "validation (%s s, see *Where ours spends its time*)."
                % (inputs, pu["seconds"] + inputs, po["seconds"] / (pu["seconds"] + inputs), fmt(validate))
            )
        per_round_table(
            doc,
            v,
            [(["%s / %s" % pair], {"ours": pair[0], "sdk": pair[1]}) for pair in pairs],
            sides,
            ("ours", "sdk", "ours / SDK per round"),
        )
        doc.add("### Requests per 1,000 samples", "")

        def puts(r: Rounds, p: str) -> int | None:
            stats = r.server(p)
            return (stats.get("operations") or {}).get("storage_put", 0) if stats else None

        doc.phase_table(
            ["phase"],
            [
                (["`annotate()` / upload"], {"ours": "annotate", "sdk": "upload"}),
                (["SDK handshake"], {"sdk": "connect"}),
                (["`load_annotations()` / download"], {"ours": "load_annotations", "sdk": "download"}),
            ],
            [
                v.col("%s: %s" % (label, what), side, v.per_1000(value))
                for side, label in sides.items()
                for what, value in (
                    ("HTTP requests", REQUESTS_VALUE),
                    ("GraphQL ops", API_OPS_VALUE),
                    ("storage PUTs", puts),
                )
            ],
        )
        phases = {"ours": self.sides["ours"].phases, "sdk": SDK_PHASES}
        doc.para(same_counts(v, sides, {s: p[1:] for s, p in phases.items()}))
        doc.add("### GraphQL operations per phase, on the server", "")
        columns = [("%s %s" % (sides[s], p.replace("_annotations", "")), s, p) for s, p in self.op_columns]
        server_ops(doc, v, columns, (server.get("knobs") or {}).get("window_seconds", 60))
        doc.add("### Requests per phase, by endpoint (client side, first round)", "")
        endpoints(doc, v, sides, phases)
        self._budget_section(doc, v, config)
        doc.add("### Sanity", "")
        interfaces = ours.values("annotator", "json_interface") + sdk.values("annotator", "json_interface")
        same = all(i == report.get("json_interface") for i in interfaces)
        sanity(
            doc,
            v,
            {side: s.label for side, s in self.sides.items()},
            lambda side, label, r: round_line(label, r, n, "assets", "labelled"),
            [
                "the project's jsonInterface on the server, every round of both sides: %s"
                % ("identical" if same else "**DIFFERENT**")
                if interfaces and sdk
                else ""
            ],
        )
        doc.add("### Where ours spends its time", "")
        breakdown(
            doc,
            v,
            {"ours": "ours"},
            "emulator",
            '; the "every GraphQL query/mutation" rows overlap the rows above them',
        )
        footer(doc, self.out_dir, "per round, per endpoint, RSS at phase start, bytes sent")
        return doc.text()

    op_columns = (
        ("ours", "annotate"),
        ("sdk", "connect"),
        ("sdk", "upload"),
        ("ours", "load_annotations"),
        ("sdk", "download"),
        ("ours", "cleanup"),
        ("sdk", "cleanup"),
    )

    def _budget_section(self, doc: Doc, v: View, config: dict) -> None:
        budget = v["ours_budget"]
        if not budget.all:
            return
        knobs = v.report.get("budget_knobs") or KILI_BUDGET
        calls, window = knobs["max_calls"], knobs["window_seconds"]
        doc.add("### Under Kili's call budget (`--budget`)", "")
        doc.para(
            "Ours again in every round (%s, in the alternating order with the others, fresh subprocess, same config: "
            "the client paces itself to %s calls per %s s) with the emulator enforcing %d calls per %g s (a call over "
            "the budget would get a 429). Compare with the unbudgeted medians above."
            % (
                "%d round%s" % (len(budget.all), "" if len(budget.all) == 1 else "s"),
                config.get("max_calls", "?"),
                config.get("window_seconds", "?"),
                calls,
                window,
            )
        )
        annotate, load = v["ours"].server("annotate"), v["ours"].server("load_annotations")
        if annotate and load and annotate["api_ops"]:
            per_1000 = annotate["api_ops"] * 1000.0 / v.n
            peak = max((budget.server(p) or {}).get("peak_max", 0) for p in self.sides["ours_budget"].phases)
            doc.para(
                "Ours makes %.0f GraphQL calls per 1,000 samples in `annotate()` and %.0f in `load_annotations()` "
                "(storage PUTs are not API calls), so %d calls per %g s let ~{:,} samples per minute through "
                "`annotate()` before the client's pacing has to wait; at N=%d the busiest phase's peak was %d calls "
                "in a %g s window, %.0f%% of the budget.".format(
                    int(round(calls * 1000.0 / per_1000 * 60 / window, -2))
                )
                % (per_1000, load["api_ops"] * 1000.0 / v.n, calls, window, v.n, peak, window, 100.0 * peak / calls)
            )
        doc.phase_table(
            ["phase"],
            [([p], {"ours_budget": p, "ours": p}) for p in self.sides["ours"].phases[1:]],
            [
                v.col("time (s) with budget", "ours_budget", TIME),
                v.col("time (s) without (median)", "ours", TIME),
                v.col("GraphQL ops", "ours_budget", API_OPS),
                v.col(
                    "peak calls in a %g s window" % window,
                    "ours_budget",
                    lambda r, p: fmt((r.server(p) or {}).get("peak_max"), "%d"),
                ),
                v.col(
                    "over the limit", "ours_budget", lambda r, p: fmt((r.server(p) or {}).get("over_limit_max"), "%d")
                ),
                v.col("429s", "ours_budget", lambda r, p: fmt(max((r.server(p) or {}).get("all_429") or [0]), "%d")),
            ],
        )


BENCH = KiliBench
