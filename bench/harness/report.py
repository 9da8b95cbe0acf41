"""The markdown of a bench's RESULTS.md section: the header (command, date,
machine, software, commit), tables of per-phase figures built from column
declarations, the tables every bench has (requests by endpoint, operations
on the server, sanity, where the time goes, scaling sweeps, targets), and
the writer of one section of the results file."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
from typing import Any, Callable, Iterable, Mapping

from harness.stats import Rounds, median
from harness.workload import CLASSES, LABEL_SCHEMA, MOVE, ROOT, TOLERANCE, check_summary, same_boxes

MB = 1024 * 1024


def within(tolerance: float = TOLERANCE) -> str:
    """``"within 2e-4"``: how close a box must be to count as the same."""
    return "within %s" % ("%.0e" % tolerance).replace("e-0", "e-")


WITHIN = within()
RESULTS_MD = os.path.join(ROOT, "bench", "RESULTS.md")


# --- the machine and the software ---------------------------------------------------------


def machine_info() -> dict:
    """CPUs, RAM, load average, Python and platform of this machine."""
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "?")
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram_gb": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3,
        "loadavg": os.getloadavg(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def package_versions(names: Iterable[str]) -> dict[str, str]:
    """The installed version of each distribution (``?`` when missing)."""
    from importlib import metadata

    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except Exception:
            out[name] = "?"
    return out


def venv_version(python: str, distribution: str) -> str:
    """The version of ``distribution`` in another virtual environment."""
    code = "from importlib import metadata; print(metadata.version(%r))" % distribution
    try:
        return subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=60).stdout.strip() or "?"
    except Exception:
        return "?"


def git_state() -> str:
    """The package's commit, and whether its source differs from it."""
    try:
        git = ["git", "-C", ROOT]
        head = subprocess.run(git + ["rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=30)
        dirty = subprocess.run(
            git + ["status", "--porcelain", "--", "fo_annotation_backends"], capture_output=True, text=True, timeout=30
        )
        changed = " + uncommitted changes in fo_annotation_backends/" if dirty.stdout.strip() else ""
        return "%s%s" % (head.stdout.strip() or "?", changed)
    except Exception:
        return "?"


# --- cells --------------------------------------------------------------------------------


def fmt(value: Any, pattern: str = "%.2f", missing: str = "—") -> str:
    """``pattern % value``, or ``missing`` for None."""
    return missing if value is None else pattern % value


def time_cell(ph: dict | None) -> str:
    """``median (min–max)`` seconds of a phase."""
    if not ph:
        return "—"
    values = ph.get("all_seconds") or []
    if len(values) > 1:
        return "%.2f (%.2f–%.2f)" % (ph["seconds"], min(values), max(values))
    return "%.2f" % ph["seconds"]


def range_cell(values: list, pattern: str = "%.2f") -> str:
    """``median (min–max)`` of per-round values (one value when they agree)."""
    if not values:
        return "—"
    if len(values) > 1 and pattern % min(values) != pattern % max(values):
        return (pattern + " (" + pattern + "–" + pattern + ")") % (median(values), min(values), max(values))
    return pattern % values[0]


def per_round(values: Iterable[Any]) -> str:
    """Per-round values, comma-separated."""
    return ", ".join(str(v) for v in values) or "—"


def ratio(a: float | None, b: float | None) -> float | None:
    """``a / b``, None when either is missing or ``b`` is 0."""
    return a / b if a is not None and b else None


# --- the document -------------------------------------------------------------------------

#: a column: header, cell of a row (``{side: phase}``), alignment ("l" or "r")
Column = tuple[str, Callable[[dict], str], str]


class Doc:
    """Markdown lines, with tables."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, *lines: str) -> None:
        """Appends lines."""
        self.lines.extend(lines)

    def para(self, *texts: str) -> None:
        """A paragraph of the non-empty ``texts``, joined by spaces."""
        text = " ".join(t for t in texts if t)
        if text:
            self.add(text, "")

    def table(self, headers: list[str], rows: list[list[str]], align: str = "") -> None:
        """A table; ``align`` holds ``l`` or ``r`` per column (default: the
        first column left, the others right)."""
        align = align or "l" + "r" * (len(headers) - 1)
        self.add("| %s |" % " | ".join(headers))
        self.add("|%s|" % "|".join("---:" if a == "r" else "---" for a in align))
        self.add(*("| %s |" % " | ".join(str(c) for c in row) for row in rows))
        self.add("")

    def phase_table(
        self, heads: list[str], rows: list[tuple[list[str], dict]], columns: list[Column], extra: Iterable = ()
    ) -> None:
        """A table of figures per phase: each row is ``(its label cells,
        {side: the phase of that side})``, each column computes a cell;
        ``extra`` rows are given as cells."""
        self.table(
            heads + [c[0] for c in columns],
            [labels + [c[1](phases) for c in columns] for labels, phases in rows] + list(extra),
            "l" * len(heads) + "".join(c[2] for c in columns),
        )

    def text(self) -> str:
        """The markdown."""
        return "\n".join(self.lines).rstrip("\n") + "\n"


class View:
    """A report's rounds per side, and the column factories of its tables."""

    def __init__(self, report: dict, non_api_ops: Iterable[str] = ()) -> None:
        self.report = report
        self.n = report["n"]
        self._sides = {side: Rounds(rounds, non_api_ops) for side, rounds in (report.get("sides") or {}).items()}

    def __getitem__(self, side: str) -> Rounds:
        return self._sides.get(side) or Rounds([])

    def col(self, header: str, side: str, metric: Callable[[Rounds, str], str], align: str = "r") -> Column:
        """A column of one side's ``metric(rounds, phase)`` ("—" without a phase)."""
        rounds = self[side]
        return header, lambda row: metric(rounds, row[side]) if row.get(side) else "—", align

    def ratio_col(self, header: str, a: str, b: str, per_round_values: bool = False) -> Column:
        """``a``'s median time over ``b``'s, or the ratio per round."""

        def cell(row: dict) -> str:
            pa, pb = self[a].phase(row.get(a)), self[b].phase(row.get(b))
            if not (pa and pb):
                return "—"
            if per_round_values:
                return ", ".join("%.2fx" % (x / y) for x, y in zip(pa["all_seconds"], pb["all_seconds"]))
            return fmt(ratio(pa["seconds"], pb["seconds"]), "%.2fx")

        return header, cell, "l" if per_round_values else "r"

    def per_1000(self, value: Callable[[Rounds, str], float | None]) -> Callable[[Rounds, str], str]:
        """A metric: ``value`` per 1,000 samples."""
        return lambda r, p: fmt(None if value(r, p) is None else value(r, p) * 1000.0 / self.n, "%.0f")


def phase_value(key: str) -> Callable[[Rounds, str], Any]:
    """A phase figure of a side (first round; peaks the largest)."""
    return lambda r, p: (r.phase(p) or {}).get(key)


def server_value(key: str) -> Callable[[Rounds, str], Any]:
    """An emulator figure of a side's phase (see :meth:`Rounds.server`)."""
    return lambda r, p: (r.server(p) or {}).get(key)


def metric(value: Callable[[Rounds, str], Any], pattern: str) -> Callable[[Rounds, str], str]:
    """A cell: ``value`` formatted."""
    return lambda r, p: fmt(value(r, p), pattern)


def seconds_cell(r: Rounds, phase: str) -> str:
    """Median time of a phase, (min–max)."""
    return time_cell(r.phase(phase))


def rounds_cell(r: Rounds, phase: str) -> str:
    """The time of a phase in each round."""
    return ", ".join("%.2f" % v for v in (r.phase(phase) or {}).get("all_seconds", [])) or "—"


#: metrics of a side's phase, for :meth:`View.col`
TIME, ROUNDS = seconds_cell, rounds_cell
REQUESTS_VALUE, API_OPS_VALUE = phase_value("requests"), server_value("api_ops")
REQUESTS, API_OPS = metric(REQUESTS_VALUE, "%d"), metric(API_OPS_VALUE, "%d")
PEAK, GROWTH = metric(phase_value("rss_peak_mb"), "%.0f"), metric(phase_value("rss_growth_mb"), "%+.0f")


# --- the section's parts ------------------------------------------------------------------


def header(
    doc: Doc,
    v: View,
    title: str,
    module: str,
    software: str,
    media: str,
    bullets: list[str],
    method: dict[str, str],
    annotator: str,
) -> None:
    """The title; the command, date, machine, commit and software; the emulator's
    transport, the workload (``media``: how the images travel), the bench's
    own ``bullets``, the method (:func:`method`) and the annotator
    (``annotator``: who plays it, how)."""
    report, info = v.report, v.report["machine"]
    end, probe = info.get("loadavg_end"), report["server"].get("probe") or {}
    env = " ".join("%s=%s" % (k, val) for k, val in (report.get("env") or {}).items() if val)
    doc.add("# " + title, "", "Produced by `bench/%s.py` (do not edit by hand: re-run it)." % module, "")
    doc.add("- **Command:** `%s`" % report["command"])
    if env:
        doc.add("  (environment: `%s`)" % env)
    doc.add(
        "- **Date:** %s (finished %s)" % (report["date"], report.get("finished", "?")),
        "- **Machine:** %d CPUs (`nproc`; %s), %.1f GB RAM, load average (1/5/15 min) at start %.2f / %.2f / %.2f%s; %s"
        % (
            info["nproc"],
            info["cpu"],
            info["ram_gb"],
            *info["loadavg"],
            (", at the end %.2f / %.2f / %.2f" % tuple(end)) if end else "",
            info["platform"],
        ),
        "- **Package:** fo-annotation-backends at commit %s" % info.get("git", "?"),
        "- **Software:** Python %s, fiftyone %s, %s" % (info["python"], info["versions"].get("fiftyone"), software),
    )
    if probe:
        doc.add(
            "- **Emulator transport:** a small call (%s) takes %.1f ms kept-alive and %.1f ms on a new connection "
            "(median of 30)." % (probe.get("what", "?"), probe["keepalive_ms"], probe["new_connection_ms"])
        )
    doc.add(
        "- **Workload:** N=%d generated 640x480 JPEGs (%.1f MB in total%s), %d ground-truth boxes (3-4 per image, "
        "classes %s), label schema `%s` on the existing field."
        % (
            v.n,
            report["media_mb"],
            media,
            report.get("labels_before", 0),
            "/".join(CLASSES),
            json.dumps(LABEL_SCHEMA),
        )
    )
    doc.add(*("- " + b for b in bullets if b))
    doc.add("- " + _method(v, **method))
    doc.add(
        "- Between the upload and the download the parent plays the annotator (%s), starting from the "
        "pre-annotations: keep every box (image i%%3==0), move the first box %.0f%% of the width right (i%%3==1), "
        "delete the last box (i%%3==2), the same edits in every bench. Not timed, not counted."
        % (annotator, MOVE * 100),
        "",
    )


def _method(
    v: View, server: str, warmup: str, first: str, rounds: str = "", requests: str = "", figures: str = ""
) -> str:
    report = v.report
    count = report.get("rounds_run", 1)
    ph = v["ours"].phase("import")
    sdk = any(k for k in report.get("sides", {}) if k.startswith("sdk"))
    return (
        "**Method:** each round of each side runs in a fresh subprocess (a FiftyOne backend on a fresh clone of the "
        "dataset) against the same %s, %s; %s%s. Times are wall time of the call(s). *Requests* = every HTTP request "
        "the client sent through `requests.Session.send` (and `httpx.Client.send`) during the phase, each with its "
        "start, end and status (wrapped; neither side is modified)%s. %sPeak RSS = the client subprocess's peak "
        "resident set during the phase (sampled every 20 ms; the largest over the rounds); a FiftyOne worker holds "
        "FiftyOne and its database client (%s before the backend is imported)%s."
        % (
            server,
            "after an untimed 10-image warm-up of %s" % warmup if report.get("warmup") else "with no warm-up",
            "%d rounds, the order alternating (%s first in odd rounds); times are the median, (min–max) in brackets"
            % (count, first)
            if count > 1
            else "one round",
            rounds,
            requests,
            figures,
            "~%.0f MB" % ph["rss_start_median_mb"] if ph else "?",
            ", the SDK's process has no FiftyOne: compare the RSS *growth*" if sdk else "",
        )
    )


def results_heading(doc: Doc, v: View, title: str = "Results") -> None:
    """``## Results (N=1000, median of 3 rounds)``."""
    rounds = v.report.get("rounds_run", 1)
    doc.add("## %s (N=%d%s)" % (title, v.n, ", median of %d rounds" % rounds if rounds > 1 else ""), "")


def per_round_table(
    doc: Doc, v: View, rows: list, sides: dict[str, str], ratio: tuple[str, str, str] | None = None
) -> None:
    """Each round's time of each side (and ``ratio``: ``(a, b, header)``, a's
    over b's per round), when there are several rounds."""
    if v.report.get("rounds_run", 1) < 2:
        return
    columns = [v.col(label, side, ROUNDS, "l") for side, label in sides.items()]
    columns += [v.ratio_col(ratio[2], ratio[0], ratio[1], True)] if ratio else []
    doc.para("Per round (seconds, in the order run):")
    doc.phase_table(["phase"], rows, columns)


def same_counts(view: View, sides: dict[str, str], phases: Mapping[str, Iterable[str]]) -> str:
    """Whether each side's request counts were the same in every round."""
    varied = [
        "%s %s: %s" % (label, phase, per_round(ph["all_requests"]))
        for side, label in sides.items()
        for phase in phases[side]
        if (ph := view[side].phase(phase)) and len(set(ph["all_requests"])) > 1
    ]
    return "Request counts are those of the first round; %s." % (
        "they were the same in every round" if not varied else "they varied: " + "; ".join(varied)
    )


def compare(view: View, a: str, phase_a: str, b: str, phase_b: str) -> tuple[float | None, str]:
    """``a``'s median time over ``b``'s, and ``"0.70x (4.64 s vs 6.58 s;
    medians; worst round 0.75x)"``."""
    x, y = view[a].phase(phase_a), view[b].phase(phase_b)
    if not (x and y and y["seconds"]):
        return None, "not measured"
    value = x["seconds"] / y["seconds"]
    per = [p / q for p, q in zip(x["all_seconds"], y["all_seconds"]) if q]
    worst = "; medians; worst round %.2fx" % max(per) if len(per) > 1 else ""
    return value, "%.2fx (%.2f s vs %.2f s%s)" % (value, x["seconds"], y["seconds"], worst)


def backend_part(view: View, ours: str, baseline: str, phase: str, baseline_label: str, what: str) -> str:
    """How much of ``load_annotations()`` is the backend's download, against
    the baseline's download."""
    part = (view[ours].breakdown("load_annotations").get("download_annotations (backend)") or (None,))[0]
    pd = view[baseline].phase(phase)
    if part is None or not pd:
        return ""
    return (
        "`load_annotations()` is FiftyOne's whole call: the backend's part (`download_annotations()`: %s, reading the "
        "current labels, building FiftyOne labels) took %.2f s (median), %.2fx %s download; the rest is FiftyOne "
        "merging the labels into the dataset, which the baseline does not do."
        % (what, part, part / pd["seconds"], baseline_label)
    )


def server_ops(doc: Doc, view: View, columns: list[tuple[str, str, str]], peak_window: float | None = None) -> None:
    """Operations the emulator executed per phase (first round), with the
    HTTP statuses (and the peak calls in a budget window) of each column
    ``(header, side, phase)``."""
    stats = [(h, view[s].server(p) or {}) for h, s, p in columns if view[s].server(p)]
    if not stats:
        return
    ops = sorted({op for _, s in stats for op in s.get("operations") or {}}, key=lambda o: (o.startswith("storage"), o))
    rows = [["`%s`" % op] + [str((s.get("operations") or {}).get(op, "")) for _, s in stats] for op in ops]

    def statuses(s: dict) -> str:
        return ", ".join("%s×%s" % (v, k) for k, v in sorted((s.get("statuses") or {}).items()))

    rows.append(["**HTTP statuses**"] + [statuses(s) for _, s in stats])
    if peak_window:
        rows.append(["**peak calls in a %g s window**" % peak_window] + [str(s.get("peak_max", "")) for _, s in stats])
    doc.table(["operation"] + [h for h, _ in stats], rows)


def endpoints(doc: Doc, view: View, sides: dict[str, str], phases: Mapping[str, Iterable[str]]) -> None:
    """The client's requests per phase by endpoint (first round)."""
    for side, label in sides.items():
        lines = []
        for phase in phases[side]:
            ph = view[side].phase(phase)
            if ph and phase != "import":
                parts = ["%d× `%s`" % (n, k) for k, n in ph["requests_by_endpoint"].items()]
                lines.append(
                    "- %s (%d, %.1f MB sent): %s"
                    % (phase, ph["requests"], ph["bytes_sent"] / MB, "; ".join(parts) or "none")
                )
        if lines:
            doc.add("**%s**" % label, "", *lines, "")


def sanity(
    doc: Doc,
    view: View,
    sides: dict[str, str],
    line: Callable[[str, str, dict], str],
    extra: list[str],
    tolerance: float = TOLERANCE,
) -> None:
    """Labels before and after, one line per round of each side (``line(side,
    label, round)``), whether every round of every side brought back the
    same boxes (each coordinate within ``tolerance``), and the bench's
    ``extra`` lines."""
    report = view.report
    after = [
        "%s **%s**" % (label, per_round(view[side].field("labels_after_load")))
        for side, label in sides.items()
        if any(v is not None for v in view[side].field("labels_after_load"))
    ]
    doc.add(
        "- labels before: %s; expected after the annotator's edits: %s; after the download: %s (per round)"
        % (report.get("labels_before"), report.get("labels_expected"), ", ".join(after) or "—")
    )
    for side, label in sides.items():
        for r in view[side].all:
            doc.add(
                "- **%s, round %s FAILED:** `%s`" % (label, r.get("round"), r["error"])
                if r.get("error")
                else line(side, label, r)
            )
    summaries = [r["summary"] for side in sides for r in view[side].ok if r.get("summary")]
    if len(summaries) > 1:
        differ = sorted(
            {
                k
                for s in summaries[1:]
                for k in set(s) | set(summaries[0])
                if not same_boxes(s.get(k, []), summaries[0].get(k, []), tolerance)
            },
            key=int,
        )
        doc.add(
            "- per image (class, box %s), all rounds of all sides: %s"
            % (
                within(tolerance),
                "identical for all %d images" % len(summaries[0])
                if not differ
                else "%d images differ (e.g. %s)" % (len(differ), ", ".join(differ[:5])),
            )
        )
    doc.add(*("- " + e for e in extra if e), "")


def round_line(label: str, r: dict, n: int, noun: str, verb: str, note: str = "", tolerance: float = TOLERANCE) -> str:
    """The sanity line of one round: uploaded, annotated, boxes as expected
    (each coordinate within ``tolerance``), label ids kept."""
    good, bad = check_summary(r.get("summary") or {}, list(range(n)), tolerance)
    annotator = r.get("annotator") or {}
    ids = (
        "; label ids: %d kept, %d new (expected: all kept, none new)" % (r["ids_kept"], r.get("ids_new", 0))
        if "ids_kept" in r
        else ""
    )
    return (
        "- %s, round %s: %d %s uploaded, %d %s by the annotator (%.1f s%s); images whose boxes equal the expected "
        "edits (class, box %s): **%d / %d**%s%s"
        % (
            label,
            r.get("round"),
            r.get("items", 0),
            noun,
            annotator.get("annotated", 0),
            verb,
            annotator.get("seconds", 0),
            note,
            within(tolerance),
            good,
            n,
            " (differ: %s)" % ", ".join(str(b) for b in bad[:10]) if bad else "",
            ids,
        )
    )


def breakdown(doc: Doc, view: View, sides: dict[str, str], server_label: str, intro: str) -> None:
    """Per phase, the wall time of the named functions of each side that has
    them (median over the rounds)."""
    sides = {s: label for s, label in sides.items() if any(r.get("breakdown") for r in view[s].ok)}
    if not sides:
        return
    doc.para(
        "Wall time inside named functions during each phase (median over the rounds), taken by wrapping them in the "
        "worker (no profiler; ↳ entries are part of the entry above them; what is left of a phase is FiftyOne's own "
        "bookkeeping; calls made from several threads at once add up their durations, so they can exceed the entry "
        "above them%s)." % intro
    )
    several = len(sides) > 1
    for phase in ("annotate", "load_annotations", "cleanup"):
        rows = []
        for side, label in sides.items():
            ph = view[side].phase(phase)
            if not ph:
                continue
            cpu = [(who, view[side].cpu(phase, key)) for who, key in (("client", "client"), (server_label, "server"))]
            cpu_note = ", ".join("%s %.2f s" % (who, v) for who, v in cpu if v is not None)
            whole = [
                "**whole phase**%s" % (" (CPU: %s)" % cpu_note if cpu_note else ""),
                "**%.2f**" % ph["seconds"],
                "",
            ]
            rows.append(([label] if several else []) + whole)
            for step, (seconds, calls) in view[side].breakdown(phase).items():
                shown = "&nbsp;&nbsp;↳ " + step.strip().lstrip("↳").strip() if step.startswith("  ") else step
                rows.append(([label] if several else []) + [shown, "%.2f" % seconds, "%d" % calls])
        if rows:
            doc.add("**%s**" % phase, "")
            doc.table(
                (["backend"] if several else []) + ["step", "seconds", "calls"], rows, ("llrr" if several else "lrr")
            )
    missing = sorted({m for side in sides for r in view[side].ok for m in r.get("breakdown_missing") or []})
    if missing:
        doc.para("Not found in this version of the code, so not timed: %s." % ", ".join("`%s`" % m for m in missing))


def sweep(doc: Doc, report: dict, what: str) -> None:
    """The scaling sweep: cost and memory of ``annotate()`` per run size."""
    rows = []
    for point in report.get("sweep") or []:
        ph = (point.get("phases") or {}).get("annotate")
        size = "%.0f MB (%.2f GB)" % (point["bytes"] / MB, point["bytes"] / 1e9)
        if point.get("error") or not ph:
            rows.append([size, point["files"], "FAILED: %s" % point.get("error"), "", "", "", "", ""])
            continue
        rows.append(
            [size, point["files"], "%.1f" % ph["seconds"], ph["requests"], "%.0f" % (ph["bytes_sent"] / MB)]
            + ["%.0f" % ph["rss_start_mb"], "%.0f" % ph["rss_peak_mb"], "%+.0f" % ph["rss_growth_mb"]]
        )
    if rows:
        doc.para(what)
        headers = ["upload", "files", "annotate time (s)", "requests", "MB sent", "RSS before (MB)", "peak RSS (MB)"]
        doc.table(headers + ["growth (MB)"], rows)


def target_row(target: str, value: float | None, limit: float, result: str, at_most: bool = True) -> list[str]:
    """A row of the targets table, met or not computed from ``value``."""
    if value is None:
        return [target, "not measured", "**no**"]
    met = value <= limit if at_most else value >= limit
    return [target, result, "yes" if met else "**no**"]


def footer(doc: Doc, out_dir: str, what: str) -> None:
    """Units and where the raw figures are."""
    doc.para(
        "MB = 2^20 bytes, GB = 10^9 bytes. Raw figures (%s): `%s/report.json` (not committed)."
        % (what, os.path.relpath(out_dir, ROOT))
    )


# --- the results file ---------------------------------------------------------------------


def shift_headings(markdown: str, levels: int = 1) -> str:
    """Every ATX heading ``levels`` deeper, so that a section nests under
    the file's own title."""
    out, fenced = [], False
    for line in markdown.split("\n"):
        fenced = not fenced if line.startswith("```") else fenced
        out.append("#" * levels + line if not fenced and re.match(r"#{1,5} ", line) else line)
    return "\n".join(out)


def write_section(path: str, name: str, body: str, services: list[str]) -> None:
    """Replaces the ``name`` section of the results file (between its marker
    comments) with ``body``, or appends it; the rest of the file is kept."""
    start, end = "<!-- bench:%s:start -->" % name, "<!-- bench:%s:end -->" % name
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
            text = (
                "# Benchmarks\n\nFigures measured by the scripts in `bench/` (run them with `./run bench [%s|all] "
                "[options]`).\nEach section below is written by its own script between `<!-- bench:NAME:start -->` "
                "and\n`<!-- bench:NAME:end -->` comments: a run replaces its own section and leaves the others as "
                "they are.\nDo not edit the sections by hand: re-run the bench.\n" % "|".join(services)
            )
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)
