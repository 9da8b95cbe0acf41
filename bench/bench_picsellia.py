"""Benchmark: our Picsellia backend against the Picsellia emulator, side by
side with the official Picsellia SDK doing the same work by hand
(``picsellia_sdk_baseline.py``, in the SDK's own venv).

Sides, each round in a fresh subprocess against one Picsellia emulator (a
process of its own, no call budget, no faults): ours (``import``,
``annotate()``, the annotator played by the parent through the REST API,
``load_annotations()``, ``cleanup()``); the SDK (``import``, ``connect``,
``upload_data``, ``version``, ``pre_annotations``, the annotator,
``download``, ``cleanup``; the four before the annotator are also added up as
``upload``). Then the growth with N: one more round of each side at each
``--sizes`` N (the main N's figures come from its rounds). After each round
the parent counts what the datalake still holds, then clears the emulator.

    ./run bench picsellia [--n 1000] [--rounds 3] [--sizes 250,500] [--skip-baseline] [--no-write]
                          [--processing-reads 1] [--profile] [--config KEY=VALUE] [--no-warmup]
"""

from __future__ import annotations

import collections
import concurrent.futures
import os
import re
import secrets
import threading
import time
from typing import Any

from harness.parent import HERE, Bench, Side
from harness.report import (
    GROWTH,
    PEAK,
    REQUESTS,
    TIME,
    Doc,
    View,
    backend_part,
    breakdown,
    compare,
    endpoints,
    footer,
    header,
    per_round_table,
    results_heading,
    round_line,
    same_counts,
    sanity,
    within,
)
from harness.stats import Rounds
from harness.workload import CLASSES, MOVE, boxes_of, build_dataset, clone, edit_of, log, make_std_images

ORGANIZATION = "bench"
#: the workload's images (harness.workload.make_std_images)
WIDTH, HEIGHT = 640, 480
#: Picsellia stores rectangles in whole pixels (each corner rounded): a box is right within one pixel of the
#: shorter side, plus the 1e-4 rounding of the per-image summaries
PIXEL_TOLERANCE = 1.0 / HEIGHT + 1e-4
#: who, in the sentences
WHO, WHOSE = {"ours": "ours", "sdk": "the SDK"}, {"ours": "ours'", "sdk": "the SDK's"}
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F-]{27}")
SDK_UPLOAD = ("connect", "upload_data", "version", "pre_annotations")
SDK_PHASES = ("import",) + SDK_UPLOAD + ("download", "cleanup")
#: (ours' phase, the SDK's phase, the row's label) of the comparison
PAIRS = (
    ("annotate", "upload", "`annotate()` / connect + upload_data + version + pre_annotations"),
    ("load_annotations", "download", "`load_annotations()` / download"),
    ("cleanup", "cleanup", "`results.cleanup()` / cleanup"),
)

_B, _U, _C, _R = ("fo_annotation_backends.picsellia." + m for m in ("backend", "upload", "client", "runassets"))
_FO = "fiftyone.utils.annotations"
BREAKDOWN = [
    (_FO, "_build_label_schema", "FiftyOne: validate the label schema"),
    (_U, "normalize_label_schema", "normalize schema"),
    (_U, "check_image_media", "check media files"),
    (_U, "sample_image_sizes", "image sizes (from metadata)"),
    (_U, "Uploader._convert", "convert labels to shapes (before the first request)"),
    (_U, "field_values", "  read label fields (FiftyOne `values()`)"),
    (_C, "PicselliaClient.ping", "ping (credentials)"),
    (_C, "PicselliaClient.organization", "organization (first call reads it)"),
    (_U, "Uploader._find_version", "find an existing version"),
    (_U, "Uploader._create_version", "find/create dataset, create version"),
    (_U, "Uploader._record", "record the run's partial state in FiftyOne"),
    (_C, "PicselliaClient.labels", "labels (get or create, one `XGET`)"),
    (_U, "Uploader._send_data", "upload the images to the datalake"),
    (_C, "PicselliaClient.find_data", "  find data by filename (`XGET`, 1000 a call)"),
    (
        _C,
        "PicselliaClient.upload_file",
        "  one image: object name, presigned URL, storage POST, create data (threads add up)",
    ),
    (_U, "Uploader._wait_processed", "  wait until the data are processed"),
    (_C, "PicselliaClient.add_data", "add the data to the version (job)"),
    (_C, "PicselliaClient.assets_by_data_id", "assets by data id (`XGET`; also inside add_data)"),
    (_U, "Uploader._import", "import the labels (bulk, 100 assets a request)"),
    (_B, "PicselliaBackend.download_annotations", "download_annotations (backend)"),
    (_R, "live_version", "  the version"),
    (_R, "run_assets", "  the run's assets still there (`XGET`)"),
    (_R, "annotations_by_asset", "  annotation ids (50 assets a call) + load (`XGET`, 100 a call)"),
    (_R, "build_annotations", "  read current labels + convert shapes (build_annotations)"),
    (_R, "shapes_to_regions", "    ↳ convert shapes to regions"),
    (_FO, "_merge_labels", "FiftyOne: merge labels into the dataset"),
    (_C, "PicselliaClient.delete_version", "delete the version"),
    (_C, "PicselliaClient.delete_data", "delete the data (1000 a call)"),
    (_C, "PicselliaClient.dataset_versions", "the dataset's versions left"),
    (_C, "PicselliaClient.delete_dataset", "delete the dataset"),
    ("fo_annotation_backends.core.http", "HttpSession.request", "every HTTP request (threads add up)"),
]


def rectangle_of(box: list[float]) -> dict[str, int]:
    """A normalised box as the whole pixels both sides send (corners rounded)."""
    x, y, w, h = box
    x0, y0 = round(x * WIDTH), round(y * HEIGHT)
    return {"x": x0, "y": y0, "w": max(1, round((x + w) * WIDTH) - x0), "h": max(1, round((y + h) * HEIGHT) - y0)}


def edit_rectangles(index: int, rectangles: list[dict]) -> list[dict]:
    """The annotator's edit (see :func:`harness.workload.expected_boxes`) of
    an annotation's rectangles, in pixels: the box to move or delete is the
    rectangle nearest to where it was sent (the order is the server's)."""
    rectangles = [dict(r) for r in rectangles]
    boxes = boxes_of(index)
    if edit_of(index) == "keep" or not rectangles:
        return rectangles
    label, box = boxes[0] if edit_of(index) == "move" else boxes[-1]
    sent = rectangle_of(box)
    same = [r for r in rectangles if r.get("label") == label] or rectangles
    target = min(same, key=lambda r: sum(abs(int(r[k]) - sent[k]) for k in sent))
    if edit_of(index) == "move":
        target["x"] = int(target["x"]) + min(round(MOVE * WIDTH), WIDTH - int(target["x"]) - int(target["w"]))
        return rectangles
    return [r for r in rectangles if r is not target]


def merge_phases(out: dict, phases: tuple[str, ...], name: str) -> None:
    """Adds ``name`` to a round's phases: the ``phases`` one after another
    (times, requests, bytes and CPU added up, RSS growth from the first's
    start to the highest peak; the emulator's counts added up)."""
    got: list[dict] = [ph for p in phases if (ph := (out.get("phases") or {}).get(p))]
    if len(got) < len(phases):
        return
    by_endpoint: collections.Counter = collections.Counter()
    for ph in got:
        by_endpoint.update(ph["requests_by_endpoint"])
    peak = max(ph["rss_peak_mb"] for ph in got)
    out["phases"][name] = {
        "seconds": sum(ph["seconds"] for ph in got),
        "requests": sum(ph["requests"] for ph in got),
        "requests_by_endpoint": dict(by_endpoint.most_common()),
        "bytes_sent": sum(ph["bytes_sent"] for ph in got),
        "rss_start_mb": got[0]["rss_start_mb"],
        "rss_peak_mb": peak,
        "rss_growth_mb": peak - got[0]["rss_start_mb"],
    }
    cpu = [(out.get("cpu") or {}).get(p) or {} for p in phases]
    out.setdefault("cpu", {})[name] = {
        who: sum(c[who] for c in cpu) if all(c.get(who) is not None for c in cpu) else None
        for who in ("client", "server")
    }
    server: list[dict] = [s for p in phases if (s := (out.get("server") or {}).get(p))]
    if len(server) == len(phases):
        merged: dict = {"requests": 0, "operations": collections.Counter(), "statuses": collections.Counter()}
        for s in server:
            merged["requests"] += s.get("requests", 0)
            merged["operations"].update(s.get("operations") or {})
            merged["statuses"].update(s.get("statuses") or {})
        merged["operations"], merged["statuses"] = dict(merged["operations"]), dict(merged["statuses"])
        out.setdefault("server", {})[name] = merged


def processing(reads: int | None) -> str:
    """How the emulator processes a new data, in words."""
    if not reads:
        return "every data processed when created (`--processing-reads 0`: neither side reads it again)"
    return (
        "a new data is PENDING until it has been read %d time%s (`GET /api/data/{id}`; `--processing-reads %d`): both "
        "sides read back each data the creation answered as not processed, as the SDK does"
        % (reads, "" if reads == 1 else "s", reads)
    )


def refused(out: dict, phase: str, status: int = 404) -> collections.Counter:
    """``{endpoint: requests}`` of a round's phase answered ``status`` (client side)."""
    return collections.Counter(key for _, _, got, key in (out.get("timeline") or {}).get(phase) or [] if got == status)


class PicselliaBench(Bench):
    name = "picsellia"
    title = "Picsellia: our backend vs the official Picsellia SDK by hand"
    sides = {"ours": Side("ours"), "sdk": Side("SDK by hand", "sdk", SDK_PHASES)}
    warmup_sides = ("ours", "sdk")
    non_api_ops = ("POST storage", "PUT storage", "GET storage")
    breakdown = BREAKDOWN
    config_keys = ("upload_workers", "label_selection", "max_retries", "timeout", "campaign")
    reset_stats_per_phase = True
    versions = ("fiftyone", "requests", "psutil")
    sdk_distribution = "picsellia"

    def add_arguments(self, parser: Any) -> None:
        add = parser.add_argument
        add("--sizes", default="250,500", help="more N for the growth runs, one round per side each (default 250,500)")
        add(
            "--processing-reads",
            type=int,
            default=1,
            help="reads of a new data before the emulator says it is processed (default 1, the emulator's; 0: DONE "
            "when created)",
        )
        add("--annotator-threads", type=int, default=4, help="threads of the simulated annotator (default 4)")

    def check_arguments(self, parser: Any, args: Any) -> None:
        try:
            self.sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
        except ValueError:
            parser.error("--sizes takes comma-separated numbers, not %r" % args.sizes)
        if any(s < 1 for s in self.sizes) or args.processing_reads < 0:
            parser.error("--sizes and --processing-reads take positive numbers")

    # --- the server ---------------------------------------------------------------------------

    def start_server(self) -> None:
        import requests

        reads = str(self.args.processing_reads)
        self.start_emulator(["--organization", ORGANIZATION, "--processing-reads", reads])
        self.api = requests.Session()
        self.api.headers["Authorization"] = "Bearer %s" % self.api_key
        self.report["server"]["processing_reads"] = self.args.processing_reads
        headers = {"Authorization": "Bearer %s" % self.api_key}
        self.probe("`GET /api/home/ping`", lambda send: send("GET", self.url + "/api/home/ping", headers=headers))
        org = self._call("GET", "/api/home/ping")["default_organization"]
        self.datalake_id = self._call("GET", "/api/organization/%s/datalake" % org)["id"]
        self.report["annotator_threads"] = self.args.annotator_threads

    def _call(self, method: str, path: str, session: Any = None, **kwargs: Any) -> Any:
        response = (session or self.api).request(method, self.url + path, timeout=120, **kwargs)
        if response.status_code >= 400:
            raise RuntimeError("%s %s: %d %s" % (method, path, response.status_code, response.text[:300]))
        return response.json() if response.content else None

    def run_side(self, side: str, tag: str, dataset: Any) -> dict:
        try:
            return super().run_side(side, tag, dataset)
        finally:
            self._reset_emulator(tag)

    def _reset_emulator(self, tag: str) -> None:
        """Counts what the datalake still holds after a round, then clears the emulator."""
        params = {"limit": 1, "upload_statuses": ["PENDING", "COMPUTING", "DONE", "ERROR"], "types": ["IMAGE"]}
        self.leftover = (self._call("GET", "/api/datalake/%s/datas" % self.datalake_id, params=params) or {}).get(
            "count"
        )
        self._call("POST", "/_emulator/clear")

    def after_round(self, side: str, out: dict) -> None:
        out["datalake_left"] = self.leftover
        if side == "sdk":
            merge_phases(out, SDK_UPLOAD, "upload")

    # --- the sides ----------------------------------------------------------------------------

    def run_baseline(self, side: str, tag: str, dataset: Any) -> dict:
        spec = self.sdk_spec(dataset)
        spec.update(
            organization=ORGANIZATION,
            classes=CLASSES,
            dataset_name="SDK baseline %s %s" % (tag, secrets.token_hex(3)),
            coco_path=os.path.join(self.out_dir, "coco_%s.json" % tag),
        )
        env = dict(os.environ, TQDM_DISABLE="1")
        for name in ("PYTHONPATH", "PICSELLIA_TOKEN", "PICSELLIA_HOST"):
            env.pop(name, None)
        command = [self.sdk_python(), os.path.join(HERE, "picsellia_sdk_baseline.py")]
        return self.run_worker(command, spec, "%s_%s" % (side, tag), env)

    def annotate(self, payload: dict) -> dict:
        """Reads the newest annotation of every asset in bulk (ids, then
        ``XGET`` 100 at a time), edits its rectangles, ``save``s them and sets
        it ACCEPTED (``--annotator-threads`` threads; each asset is accepted,
        the kept ones unchanged)."""
        import requests

        t0 = time.perf_counter()
        version, items = payload["project_id"], payload["items"]
        base = "/api/dataset/version/%s" % version
        labels = {label["name"]: label["id"] for label in self._call("GET", base + "/labels")["items"]}
        ids = self._call("GET", base + "/annotations/ids") or []
        newest: dict[str, dict] = {}
        for start in range(0, len(ids), 100):
            for annotation in self._call("XGET", base + "/annotations", json=ids[start : start + 100]) or []:
                newest.setdefault(annotation["asset_id"], annotation)  # newest first per asset
        missing = [a for a in items if a not in newest]
        if missing:
            raise RuntimeError("%d assets of the run have no annotation in version %s" % (len(missing), version))
        local = threading.local()

        def work(item: tuple[str, int]) -> None:
            if not hasattr(local, "session"):
                local.session = requests.Session()
                local.session.headers["Authorization"] = "Bearer %s" % self.api_key
            annotation = newest[item[0]]
            rectangles = edit_rectangles(int(item[1]), annotation.get("rectangles") or [])
            written = [
                dict({k: v for k, v in r.items() if k not in ("id", "label")}, label_id=labels[r["label"]])
                for r in rectangles
            ]
            path = "/api/annotation/%s" % annotation["id"]
            self._call("POST", path + "/save", local.session, json={"duration": 0, "rectangles": written})
            self._call("PATCH", path, local.session, json={"status": "ACCEPTED"})

        with concurrent.futures.ThreadPoolExecutor(self.args.annotator_threads) as pool:
            list(pool.map(work, items.items()))
        return {"annotated": len(items), "seconds": time.perf_counter() - t0}

    def run_items(self, results: Any) -> dict:
        return {asset: sample for sample, asset in results.asset_ids.items()}

    # --- growth with N ------------------------------------------------------------------------

    def extra_runs(self, base: Any) -> None:
        order, n = self.side_order(), self.args.n
        for size in [s for s in self.sizes if s != n]:
            if size < n:
                dataset = clone(base[:size], "bench_%s_n%d" % (self.name, size))
            else:
                log("preparing %d images for the growth run..." % size)
                dataset = build_dataset("bench_%s_n%d" % (self.name, size), make_std_images(size))
            self.datasets.append(dataset.name)
            point: dict = {"n": size, "sides": {}}
            for side in order:
                log("growth run N=%d, %s (fresh subprocess)..." % (size, self.sides[side].label))
                out = self.run_side(side, "n%d" % size, dataset)
                self.after_round(side, out)
                point["sides"][side] = [out]
                self.print_round(side, out)
            self.report.setdefault("growth", []).append(point)

    # --- the section --------------------------------------------------------------------------

    def render(self, report: dict) -> str:
        v, doc, n = View(report, self.non_api_ops), Doc(), report["n"]
        ours, sdk, server = v["ours"], v["sdk"], report["server"]
        config: dict = next((c for c in ours.field("config") if c), {})
        versions, overrides = report["machine"]["versions"], report.get("config_overrides") or {}
        header(
            doc,
            v,
            self.title,
            "bench_picsellia",
            "requests %s; the Picsellia emulator of this package (`%s`) on 127.0.0.1 in a process of its own, no call "
            "budget, no faults, %s; official Picsellia SDK %s in its own venv (`.cache/picsellia-sdk-venv`, tqdm off)"
            % (
                versions.get("requests"),
                server.get("command", "?"),
                processing(server.get("processing_reads")),
                versions.get("picsellia (SDK venv)", "not run"),
            ),
            ", local files: both sides upload them to the datalake through presigned storage POSTs",
            [
                '**Ours:** `dataset.annotate(key, backend="picsellia", label_schema=...)` with %s (%s), then '
                "`load_annotations()` and `results.cleanup()`."
                % (
                    "`--config` overrides %s" % overrides if overrides else "the default config",
                    ", ".join("`%s=%s`" % (k, config[k]) for k in self.config_keys if k in config),
                ),
                "**Baseline:** `bench/picsellia_sdk_baseline.py`, *what a user would write by hand with the official "
                "SDK* (FiftyOne has no Picsellia backend). It starts from the paths, image sizes and boxes in memory "
                "(reading them from FiftyOne is not timed) and does: `Client(api_token, host, organization_name)` "
                "(*connect*); `get_datalake().upload_data(paths)` (*upload_data*: the SDK's threads); `create_dataset`, "
                "`create_version(type=OBJECT_DETECTION)`, `add_data` (a job, waited for), `create_label` per class "
                "(*version*); the boxes written as a COCO file in whole pixels (corners rounded, as ours sends them) "
                "and `import_annotations_coco_file(force_create_label=False)` (*pre_annotations*); after the "
                "annotator, `list_assets()` and `load_annotations(status=ACCEPTED)`, the newest ACCEPTED annotation "
                "of each asset mapped back to its image by filename and its rectangles to normalised boxes "
                "(*download*; no merge into a FiftyOne dataset: that part of our `load_annotations()` has no "
                "counterpart); `version.delete()`, the uploaded data's `delete()`, `dataset.delete()` (*cleanup*)."
                if sdk.all
                else "",
                "**Growth with N:** one more round of each side at N=%s (fresh subprocesses, same emulator); N=%d "
                "is the main rounds' median." % (", ".join(str(p["n"]) for p in report.get("growth") or []), n)
                if report.get("growth")
                else "",
            ],
            {
                "server": "emulator",
                "warmup": "both",
                "first": "ours",
                "requests": ", API calls and storage POSTs together",
                "figures": "*API ops* = API requests the emulator answered during the phase (`/_emulator/stats`, "
                "reset before each phase; storage transfers not included). After each round the parent counts the "
                "data left in the datalake, then clears the emulator (`POST /_emulator/clear`). ",
            },
            "its own REST calls, %d threads: the version's annotation ids, `XGET` of the annotations 100 at a time, "
            "then per asset `POST annotation/{id}/save` of the edited rectangles and `PATCH` status ACCEPTED"
            % report.get("annotator_threads", 4),
        )
        results_heading(doc, v)
        if ours and sdk:
            said = ["%s: %s" % (label, compare(v, "ours", a, "sdk", b)[1]) for a, b, label in PAIRS]
            doc.para("Ours against the SDK by hand, time: %s." % "; ".join(said))
        sides = {"ours": "ours", "sdk": "SDK"}
        rows = [(["import modules (informational)"], {"ours": "import", "sdk": "import"})]
        rows += [(["SDK %s" % p], {"sdk": p}) for p in SDK_UPLOAD]
        rows += [(["**%s**" % label], {"ours": a, "sdk": b}) for a, b, label in PAIRS]
        doc.phase_table(
            ["phase (ours / baseline)"],
            rows,
            [
                ("ours time (s)", lambda row: TIME(ours, row["ours"]) if row.get("ours") else "(in `annotate()`)", "r"),
                v.col("SDK time (s)", "sdk", TIME),
                v.ratio_col("ours / SDK", "ours", "sdk"),
            ]
            + [
                v.col(head % label, side, cell)
                for head, cell in (
                    ("requests %s", REQUESTS),
                    ("peak RSS %s (MB)", PEAK),
                    ("RSS growth %s (MB)", GROWTH),
                )
                for side, label in sides.items()
            ],
        )
        doc.para(backend_part(v, "ours", "sdk", "download", "the SDK's", "the requests"))
        inputs, pu, po = report.get("sdk_inputs_seconds"), sdk.phase("upload"), ours.phase("annotate")
        if inputs is not None and po and pu:
            doc.para(
                "The baseline starts from the paths, sizes and boxes in memory. Reading them from the FiftyOne dataset, "
                "as a by-hand script would have to, took %.2f s (one `values()` call, timed once in the parent): "
                "upload + that read = %.2f s, ours / that = %.2fx."
                % (inputs, pu["seconds"] + inputs, po["seconds"] / (pu["seconds"] + inputs))
            )
        self._upload_parts(doc, v, config)
        per_round_table(
            doc,
            v,
            [(["%s / %s" % (a, b)], {"ours": a, "sdk": b}) for a, b, _ in PAIRS],
            sides,
            ("ours", "sdk", "ours / SDK per round"),
        )
        doc.add("### Requests per 1,000 samples, by endpoint", "")
        self._per_1000(doc, v)
        doc.para(same_counts(v, sides, {"ours": [a for a, _, _ in PAIRS], "sdk": [b for _, b, _ in PAIRS]}))
        self._growth(doc, v)
        self._gaps(doc, v)
        doc.add("### Requests per phase, by endpoint (client side, first round)", "")
        endpoints(doc, v, sides, {"ours": self.sides["ours"].phases, "sdk": SDK_PHASES})
        doc.add("### Sanity", "")
        sanity(
            doc,
            v,
            {side: s.label for side, s in self.sides.items()},
            lambda side, label, r: round_line(label, r, n, "assets", "accepted", tolerance=PIXEL_TOLERANCE),
            [
                "Picsellia stores rectangles in whole pixels: boxes are compared %s (one pixel of the %d px side, "
                "plus the summaries' rounding to 1e-4); ours gives back the exact float box of a rectangle that comes "
                "back as it was sent" % (within(PIXEL_TOLERANCE), HEIGHT)
            ],
            tolerance=PIXEL_TOLERANCE,
        )
        doc.add("### Where ours spends its time", "")
        breakdown(doc, v, {"ours": "ours"}, "emulator", '; the "every HTTP request" rows overlap the rows above them')
        footer(doc, self.out_dir, "per round, per endpoint, request timelines, RSS at phase start, bytes sent")
        return doc.text()

    def _upload_parts(self, doc: Doc, v: View, config: dict) -> None:
        """Where the upload's time difference lies, from ours' breakdown and the SDK's phases."""
        parts = v["ours"].breakdown("annotate")
        po, sdk_data = v["ours"].phase("annotate"), v["sdk"].phase("upload_data")
        if not (po and sdk_data and parts):
            return

        def part(label: str) -> float:
            return (parts.get(label) or (0.0, 0))[0]

        before = part("FiftyOne: validate the label schema") + part(
            "convert labels to shapes (before the first request)"
        )
        doc.para(
            "Inside ours' `annotate()` (%.2f s, median): FiftyOne's label-schema validation and reading + converting "
            "the labels before the first request, %.2f s; the datalake upload, %.2f s with `upload_workers=%s` images "
            "in flight, against the SDK's `upload_data` %.2f s with its default `os.cpu_count() + 4` = %d threads; "
            "adding the data to the version, %.2f s (the SDK's whole *version* phase: %.2f s), in which ours looked "
            "the version's assets up by data id %d times (`XGET V/assets`; %.2f s in all)."
            % (
                po["seconds"],
                before,
                part("upload the images to the datalake"),
                config.get("upload_workers", "?"),
                sdk_data["seconds"],
                (v.report["machine"].get("nproc") or 0) + 4,
                part("add the data to the version (job)"),
                (v["sdk"].phase("version") or {}).get("seconds", 0.0),
                (parts.get("assets by data id (`XGET`; also inside add_data)") or (0, 0))[1],
                part("assets by data id (`XGET`; also inside add_data)"),
            )
        )

    def _per_1000(self, doc: Doc, v: View) -> None:
        """The emulator's operations per 1,000 samples, ours' phase next to the SDK's."""
        columns = [(side, phase) for a, b, _ in PAIRS for side, phase in (("ours", a), ("sdk", b))]
        stats = {(s, p): v[s].server(p) for s, p in columns}
        ops = sorted({op for s in stats.values() if s for op in s.get("operations") or {}}, key=lambda o: o.split()[1:])

        def cell(value: float | None) -> str:
            return "" if not value else "%.0f" % (value * 1000.0 / v.n)

        rows = [["`%s`" % op] + [cell((s or {}).get("operations", {}).get(op)) for s in stats.values()] for op in ops]
        rows.append(["**API ops (emulator)**"] + [cell((s or {}).get("api_ops")) if s else "—" for s in stats.values()])
        rows.append(
            ["**HTTP requests (client)**"]
            + [cell((v[s].phase(p) or {}).get("requests")) if v[s].phase(p) else "—" for s, p in columns]
        )
        doc.table(
            ["operation (emulator)"] + ["%s %s" % ("ours" if s == "ours" else "SDK", p) for s, p in columns], rows
        )
        more = []
        for a, b, _ in PAIRS:
            x, y = stats.get(("ours", a)) or {}, stats.get(("sdk", b)) or {}
            for op in ops:
                got = [(s.get("operations") or {}).get(op, 0) * 1000.0 / v.n for s in (x, y)]
                if abs(got[0] - got[1]) >= 50:
                    more.append("`%s` in %s / %s: %.0f vs %.0f" % (op, a, b, got[0], got[1]))
        doc.para(
            "Operations are the emulator's (method and route template; `other` = a route it does not have), counted in "
            "the first round and scaled to 1,000 samples; *SDK upload* adds up its connect, upload_data, version and "
            "pre_annotations phases.",
            "Where the two sides differ by 50 or more per 1,000 samples (ours vs the SDK): %s." % "; ".join(more)
            if more
            else "No operation differs by 50 or more per 1,000 samples between the two sides.",
        )

    def _growth(self, doc: Doc, v: View) -> None:
        """Time, requests per 1,000 samples and RSS growth against N."""
        points = [(v.n, v["ours"], v["sdk"])]
        points += [
            (p["n"], Rounds(p["sides"].get("ours")), Rounds(p["sides"].get("sdk")))
            for p in v.report.get("growth") or []
        ]
        if len(points) < 2:
            return
        points.sort(key=lambda p: p[0])
        doc.add("### Growth with N", "")
        rows = []
        for size, ours, sdk in points:
            for label, rs, phases in (
                ("ours", ours, ("annotate", "load_annotations")),
                ("SDK", sdk, ("upload", "download")),
            ):
                got: list[dict] = [ph for p in phases if (ph := rs.phase(p))]
                if len(got) < len(phases):
                    continue
                rows.append(
                    [str(size), label]
                    + ["%.2f" % ph["seconds"] for ph in got]
                    + ["%.0f" % (ph["requests"] * 1000.0 / size) for ph in got]
                    + ["%.0f" % ph["rss_peak_mb"] for ph in got]
                    + ["%+.0f" % ph["rss_growth_mb"] for ph in got]
                )
        doc.table(
            [
                "N",
                "side",
                "upload time (s)",
                "download time (s)",
                "upload requests / 1,000",
                "download requests / 1,000",
            ]
            + ["upload peak RSS (MB)", "download peak RSS (MB)", "upload RSS growth (MB)", "download RSS growth (MB)"],
            rows,
            "ll" + "r" * 8,
        )
        (n0, o0, s0), (n1, o1, s1) = points[0], points[-1]
        said = []
        for side, r0, r1, phases in (
            ("ours", o0, o1, ("annotate", "load_annotations")),
            ("sdk", s0, s1, ("upload", "download")),
        ):
            for phase in phases:
                a, b = r0.phase(phase), r1.phase(phase)
                if not (a and b and a["seconds"]):
                    continue
                said.append(
                    "%s %s took %.2fx the time (%.2f s to %.2f s), %.0f to %.0f requests per 1,000 samples%s, "
                    "RSS growth %+.0f MB to %+.0f MB"
                    % (
                        WHOSE[side],
                        phase,
                        b["seconds"] / a["seconds"],
                        a["seconds"],
                        b["seconds"],
                        a["requests"] * 1000.0 / n0,
                        b["requests"] * 1000.0 / n1,
                        changed_endpoints(r0.server(phase), n0, r1.server(phase), n1),
                        a["rss_growth_mb"],
                        b["rss_growth_mb"],
                    )
                )
        doc.para(
            "*Upload* is ours' `annotate()` and the SDK's connect + upload_data + version + pre_annotations; "
            "*download* is ours' `load_annotations()` and the SDK's download. Growth = the phase's peak RSS minus the "
            "RSS at its start (the main N: the largest over its rounds; the others: one round).",
            "From N=%d to N=%d (%.1fx the samples): %s." % (n0, n1, n1 / float(n0), "; ".join(said)) if said else "",
        )

    def _gaps(self, doc: Doc, v: View) -> None:
        """What the emulator refused during cleanup, and what was left."""
        refusals, left_lines = [], []
        for side in ("ours", "sdk"):
            rs = v[side]
            for r in rs.ok[:1]:
                refused_404 = refused(r, "cleanup")
                if refused_404:
                    refusals.append(
                        "%s cleanup (round %s): %s answered 404"
                        % (
                            WHOSE[side],
                            r.get("round"),
                            ", ".join("`%s` (%d×)" % kv for kv in sorted(refused_404.items())),
                        )
                    )
                for e in r.get("cleanup_errors") or []:
                    error = _UUID.sub("{id}", re.sub(r"\s+", " ", e["error"]))[:240]
                    refusals.append("%s `%s` raised `%s`" % (WHOSE[side], e["call"], error))
            left = [r.get("datalake_left") for r in rs.ok if r.get("datalake_left") is not None]
            if left:
                left_lines.append("%s: %s" % (WHO[side], ", ".join(str(x) for x in left)))
        if not (refusals or left_lines):
            return
        doc.add("### Cleanup against the emulator", "")
        doc.para(
            "Refused in the first round's cleanup (request timeline, the SDK's exceptions): %s." % "; ".join(refusals)
            if refusals
            else "No cleanup request of the first round was refused (no 404, no SDK exception).",
            "Data left in the datalake after each round at N=%d (counted by the parent before clearing the emulator), "
            "%s." % (v.n, "; ".join(left_lines))
            if left_lines
            else "",
        )


def changed_endpoints(a: dict | None, n0: int, b: dict | None, n1: int) -> str:
    """`` (`XGET V/assets` 1 to 4 per sample)``: the emulator operations made
    per sample (at least one per 20 samples, a count that changes with N)
    whose count per sample changed by more than 10% between two runs."""
    if not a or not b:
        return ""
    ops_a, ops_b = a.get("operations") or {}, b.get("operations") or {}
    changed = []
    for op in sorted(set(ops_a) | set(ops_b)):
        x, y = ops_a.get(op, 0) / float(n0), ops_b.get(op, 0) / float(n1)
        grew = ops_a.get(op, 0) != ops_b.get(op, 0)  # a per-run call made once whatever N is not "per sample"
        if grew and abs(y - x) > 0.1 * max(x, y) and max(x, y) >= 0.05:
            changed.append("`%s` %.3g to %.3g per sample" % (op, x, y))
    return " (%s)" % ", ".join(changed) if changed else ""


BENCH = PicselliaBench
