"""The parent process of a bench, and :class:`Bench`, the base class of every
service's bench.

One run: options; the machine, software and commit; the images and the
dataset; the service's server (or emulator, a process of its own); an
untimed warm-up; then rounds, each side of the comparison in a fresh
subprocess per round (FiftyOne backends through :mod:`harness.fo_worker`,
official SDKs through their baseline scripts in their own virtual
environments), the order alternating between rounds so that drift favours
no side; the parent plays the annotator whenever a worker pauses between
its upload and its download; an optional profile round and scaling sweep;
then ``bench/out/<service>/report.json`` and the service's RESULTS.md
section.
"""

from __future__ import annotations

import argparse
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
from dataclasses import dataclass
from typing import Any, Callable

from harness.measure import MB, PAUSE_PREFIX, EmulatorControl, Meter
from harness.report import (
    RESULTS_MD,
    git_state,
    machine_info,
    package_versions,
    shift_headings,
    venv_version,
    write_section,
)
from harness.workload import (
    CACHE,
    FIELD,
    ROOT,
    build_dataset,
    clone,
    expected_boxes,
    image_index,
    log,
    make_std_images,
    sdk_items,
)

HERE = os.path.join(ROOT, "bench")
RUN_BENCH = os.path.join(HERE, "run_bench.py")
PHASES = ("import", "annotate", "load_annotations", "cleanup")


@dataclass(frozen=True)
class Side:
    """One side of a comparison: ours, a built-in backend, an SDK by hand."""

    label: str
    #: ``fiftyone``: a FiftyOne backend (:mod:`harness.fo_worker`); ``sdk``: a baseline script
    kind: str = "fiftyone"
    phases: tuple[str, ...] = PHASES


def run_worker_process(
    command: list[str], out_path: str, log_path: str, timeout: float, on_pause: Callable | None, env: dict | None
) -> dict:
    """Runs a worker (its output to ``log_path``), answering its pauses with
    ``on_pause(payload) -> dict``; its JSON output, or ``{"error": ...}``."""
    if os.path.exists(out_path):
        os.remove(out_path)
    process = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1, env=env
    )
    timed_out = threading.Event()

    def kill() -> None:
        timed_out.set()
        process.kill()

    watchdog = threading.Timer(timeout, kill)
    watchdog.daemon = True
    watchdog.start()
    pause_error = None
    try:
        with open(log_path, "w") as log_file:
            for line in process.stdout or ():
                if not line.startswith(PAUSE_PREFIX):
                    log_file.write(line)
                    log_file.flush()
                    continue
                try:
                    answer = on_pause(json.loads(line[len(PAUSE_PREFIX) :])) if on_pause else {}
                except Exception as e:
                    pause_error = "%s: %s" % (type(e).__name__, e)
                    answer = {"error": pause_error}
                assert process.stdin is not None
                process.stdin.write(json.dumps(answer) + "\n")
                process.stdin.flush()
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


class EmulatorProcess:
    """One of this package's emulators, run through its command line in a
    process of its own (sharing neither the GIL nor the memory of the
    clients); its first line on stdout is its URL."""

    def __init__(self, module: str, api_key: str, log_path: str, extra: list[str]) -> None:
        self.command = [sys.executable, "-m", module, "--host", "127.0.0.1", "--port", "0", "--api-key", api_key]
        self.command += extra
        self.log_path = log_path
        self.process: subprocess.Popen | None = None
        self._log: Any = None
        self.url = ""

    def start(self, timeout: float = 60) -> EmulatorProcess:
        """Starts it and waits for its URL."""
        self._log = open(self.log_path, "w")
        self.process = process = subprocess.Popen(
            self.command, stdout=subprocess.PIPE, stderr=self._log, stdin=subprocess.DEVNULL, text=True, cwd=ROOT
        )
        got: list[str] = []
        reader = threading.Thread(target=lambda: got.append(process.stdout.readline() if process.stdout else ""))
        reader.daemon = True
        reader.start()
        reader.join(timeout)
        self.url = (got[0] if got else "").strip()
        if not self.url.startswith("http"):
            self.stop()
            raise RuntimeError("%s did not start (first line %r; log %s)" % (self.command[2], self.url, self.log_path))
        threading.Thread(target=lambda: [None for _ in process.stdout or ()], daemon=True).start()
        return self

    def rss_mb(self) -> float | None:
        """Its resident set now, MB."""
        try:
            import psutil

            return psutil.Process(self.process.pid).memory_info().rss / MB if self.process else None
        except Exception:
            return None

    def stop(self) -> None:
        """SIGTERM to our own child (by pid), then kill if it lingers."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)
        if self._log is not None:
            self._log.close()


class Bench:
    """A service's bench. Subclasses declare the service (:attr:`name`, its
    registry entry), the :attr:`sides` of the comparison and ours'
    :attr:`breakdown`, and implement the hooks: the server, the baselines,
    the annotator and the section's tables (:meth:`render`)."""

    name = ""
    #: the section's title
    title = ""
    sides: dict[str, Side] = {}
    #: the sides of the untimed warm-up round
    warmup_sides: tuple[str, ...] = ("ours",)
    #: how the report calls the server process (CPU figures)
    server_label = "emulator"
    #: emulator operations that are not API calls
    non_api_ops: tuple[str, ...] = ()
    #: request-counting rules: ``(pattern, replacement)`` of endpoint paths
    path_rules: tuple[tuple[str, str], ...] = ()
    #: ``[(module, qualname, label)]`` timed in ours' rounds
    breakdown: list[tuple[str, str, str]] = []
    #: ours' config values recorded per round
    config_keys: tuple[str, ...] = ()
    #: zero the emulator's counts before each phase (else take differences)
    reset_stats_per_phase = False
    #: distributions whose versions the report names (and the SDK's, in its venv)
    versions: tuple[str, ...] = ("fiftyone", "requests", "psutil")
    sdk_distribution = ""

    def __init__(self) -> None:
        from fo_annotation_backends import registry

        self.service = registry.get(self.name)
        self.out_dir = os.path.join(HERE, "out", self.name)
        self.url = self.api_key = ""
        self.server_pid: int | None = None
        self.control: EmulatorControl | None = None
        self.emulator: EmulatorProcess | None = None
        self.datasets: list[str] = []
        self.config: dict = {}
        self.report: dict = {}
        self._items: dict[str, str] = {}

    # --- hooks ------------------------------------------------------------------------------

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """The bench's own options."""

    def check_arguments(self, parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
        """Refuses inconsistent options (``parser.error``)."""

    def side_enabled(self, side: str) -> bool:
        """Whether a side runs (by default: ours, and the baselines unless
        ``--skip-baseline``)."""
        return side == "ours" or not self.args.skip_baseline

    def side_order(self) -> list[str]:
        """The sides that run, in the order of odd rounds."""
        return [side for side in self.sides if self.side_enabled(side)]

    def start_server(self) -> None:
        """Starts the server (sets :attr:`url`, :attr:`api_key`, and for an
        emulator :attr:`control` and :attr:`server_pid`)."""
        raise NotImplementedError

    def stop_server(self) -> None:
        """Stops it."""
        if self.emulator is not None:
            self.report["server"]["rss_end_mb"] = self.emulator.rss_mb()
            self.emulator.stop()
            log("%s emulator stopped" % self.service.title)

    def prepare(self, base: Any) -> None:
        """Work on the base dataset before the server starts (inputs of the baselines)."""

    def fiftyone_spec(self, side: str) -> dict:
        """What a FiftyOne side's worker spec changes from ours' defaults."""
        return {}

    def run_baseline(self, side: str, tag: str, dataset: Any) -> dict:
        """One round of an SDK side (see :meth:`run_worker`)."""
        raise NotImplementedError

    def annotate(self, payload: dict) -> dict:
        """The annotator, between a worker's upload and its download:
        ``payload["items"]`` maps the run's items to image indices; returns
        at least ``annotated`` and ``seconds``."""
        raise NotImplementedError

    def after_round(self, side: str, out: dict) -> None:
        """Adds figures to a round's output (or removes what it left)."""

    def extra_runs(self, base: Any) -> None:
        """Runs after the rounds (scaling sweeps)."""

    def render(self, report: dict) -> str:
        """The section's markdown (headings from ``#``)."""
        raise NotImplementedError

    def run_items(self, results: Any) -> dict:
        """In the worker: ``{item id: sample id}`` of a run's uploaded items."""
        raise NotImplementedError

    def worker_cleanup(self, results: Any, spec: dict, out: dict, meter: Meter) -> None:
        """In the worker: the ``cleanup`` phase."""
        meter.measure("cleanup", results.cleanup)

    # --- the run ----------------------------------------------------------------------------

    def parser(self) -> argparse.ArgumentParser:
        """The options of this bench (the common ones, then its own)."""
        parser = argparse.ArgumentParser(prog="./run bench %s" % self.name, description=self.title)
        add = parser.add_argument
        add("--n", type=int, default=1000, help="images (default 1000)")
        add("--rounds", "--repeats", dest="rounds", type=int, default=3, help="rounds of each side (default 3)")
        add("--skip-baseline", action="store_true", help="run ours only")
        add("--profile", action="store_true", help="one more round of ours under cProfile (not in the tables)")
        add("--no-warmup", action="store_true", help="skip the untimed 10-image warm-up round")
        add(
            "--config", action="append", default=[], metavar="KEY=VALUE", help="a config parameter of ours (JSON value)"
        )
        add("--keep-datasets", action="store_true", help="keep the FiftyOne datasets of the rounds")
        add("--results", default=RESULTS_MD, help="the markdown file to write (default bench/RESULTS.md)")
        add("--no-write", action="store_true", help="print only; do not write the results file")
        self.add_arguments(parser)
        return parser

    def parse(self, argv: list[str], partial: bool = False) -> list[str]:
        """Parses and checks the options (exits on an error); with
        ``partial``, the options this bench does not take are returned
        instead of refused."""
        parser = self.parser()
        if partial:
            args, rest = parser.parse_known_args(argv)
        else:
            args, rest = parser.parse_args(argv), []
        self.args = args
        for item in args.config:
            key, sep, value = item.partition("=")
            if not sep:
                parser.error("--config takes KEY=VALUE, not %r" % item)
            try:
                self.config[key.strip()] = json.loads(value)
            except ValueError:
                self.config[key.strip()] = value
        self.check_arguments(parser, args)
        for side in self.side_order():
            if self.sides[side].kind == "sdk" and not os.access(self.sdk_python(), os.X_OK):
                parser.error(
                    "the SDK environment is missing: %s (run ./run setup), or use --skip-baseline" % self.sdk_python()
                )
        return rest

    def main(self, argv: list[str], command: str = "") -> int:
        """One run of the bench (``command``: how it was called, for the
        report; ``./run bench <name> <argv>`` by default); 1 when a round
        failed. With a ``command``, options other benches take are ignored."""
        self.parse(argv, partial=bool(command))
        args = self.args
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
        os.makedirs(self.out_dir, exist_ok=True)
        order = self.side_order()
        info = machine_info()
        info["versions"] = package_versions(self.versions)
        if any(self.sides[s].kind == "sdk" for s in order):
            info["versions"]["%s (SDK venv)" % self.sdk_distribution] = venv_version(
                self.sdk_python(), self.sdk_distribution
            )
        info["git"] = git_state()
        log(
            "machine: %d CPUs (%s), %.1f GB RAM, load %.2f/%.2f/%.2f"
            % (info["nproc"], info["cpu"], info["ram_gb"], *info["loadavg"])
        )
        log("preparing %d images..." % args.n)
        paths = make_std_images(args.n)
        self.report = report = {
            "service": self.name,
            "command": command or " ".join(["./run bench", self.name] + [shlex.quote(a) for a in argv]),
            "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "machine": info,
            "env": {
                k: os.environ.get(k)
                for k in ("FIFTYONE_DATABASE_DIR", "FIFTYONE_DATABASE_URI", "FIFTYONE_DATABASE_VALIDATION")
            },
            "n": args.n,
            "media_mb": sum(os.path.getsize(p) for p in paths) / MB,
            "config_overrides": self.config,
            "sides": {side: [] for side in order},
            "server": {},
        }
        import fiftyone as fo

        try:
            log("building the dataset...")
            self.base_name = "bench_%s_base" % self.name
            base = build_dataset(self.base_name, paths)
            self.datasets.append(base.name)
            report["labels_before"] = base.count(FIELD + ".detections")
            report["labels_expected"] = sum(len(expected_boxes(image_index(p))) for p in paths)
            self.prepare(base)
            t0 = time.perf_counter()
            self.start_server()
            report["server"]["start_seconds"] = time.perf_counter() - t0
            if not args.no_warmup:
                warm = clone(base[: min(10, len(base))], "bench_%s_warm" % self.name)
                self.datasets.append(warm.name)
                log("warm-up (10 images, %s; untimed)..." % ", ".join(s for s in self.warmup_sides if s in order))
                report["warmup"] = {
                    s: self.run_side(s, "warmup", warm).get("error") or "ok" for s in self.warmup_sides if s in order
                }
            for r in range(1, args.rounds + 1):
                for side in order if r % 2 else reversed(order):
                    log("round %d/%d, %s (fresh subprocess)..." % (r, args.rounds, self.sides[side].label))
                    out = self.run_side(side, "r%d" % r, base)
                    out["round"] = r
                    self.after_round(side, out)
                    report["sides"][side].append(out)
                    self.print_round(side, out)
            report["rounds_run"] = args.rounds
            if args.profile:
                log("profile round of ours (cProfile; not in the tables)...")
                prefix = os.path.join(self.out_dir, "profile_ours_")
                out = self.run_fiftyone("ours", "profile", base, profile_prefix=prefix, breakdown=None)
                report["profile"] = {"error": out.get("error"), "files": os.path.relpath(prefix, ROOT) + "*.txt"}
            self.extra_runs(base)
        finally:
            self.stop_server()
            for name in self.datasets if not args.keep_datasets else ():
                try:
                    if fo.dataset_exists(name):
                        fo.delete_dataset(name)
                except Exception:
                    pass
        report["finished"] = datetime.datetime.now().isoformat(timespec="seconds")
        info["loadavg_end"] = os.getloadavg()
        with open(os.path.join(self.out_dir, "report.json"), "w") as f:
            json.dump(report, f)
        markdown = self.render(report)
        print("\n" + markdown, flush=True)
        if not args.no_write:
            from fo_annotation_backends import registry

            write_section(args.results, self.name, shift_headings(markdown, 1), registry.names())
            log("wrote the %s section of %s" % (self.name, args.results))
        failed = [r for rounds in report["sides"].values() for r in rounds if r.get("error")]
        failed += [p for p in report.get("sweep") or [] if p.get("error")]
        return 1 if failed else 0

    # --- workers ------------------------------------------------------------------------------

    def run_side(self, side: str, tag: str, dataset: Any) -> dict:
        """One round of a side on ``dataset``."""
        if self.sides[side].kind == "fiftyone":
            return self.run_fiftyone(side, tag, dataset)
        return self.run_baseline(side, tag, dataset)

    def run_fiftyone(self, side: str, tag: str, dataset: Any, **extra: Any) -> dict:
        """A FiftyOne side's round on a fresh clone of ``dataset``; ``extra``
        overrides spec keys (see :mod:`harness.fo_worker`)."""
        import fiftyone as fo

        name = "bench_%s_%s_%s" % (self.name, side, tag)
        clone(dataset, name)
        self.datasets.append(name)
        spec = {
            "backend": self.service.name,
            "config_cls": self.service.config_cls,
            "url": self.url,
            "api_key": self.api_key,
            "dataset": name,
            "anno_key": "bench_%s_%s" % (side, tag),
            "modules": [self.service.package],
            "config": dict(self.config),
            "breakdown": self.breakdown,
            "config_keys": self.config_keys,
            "control": self.control is not None,
            "reset_stats_per_phase": self.reset_stats_per_phase,
            "server_pid": self.server_pid,
            "path_rules": self.path_rules,
        }
        spec.update(self.fiftyone_spec(side))
        spec.update(extra)
        try:
            return self.run_worker([sys.executable, RUN_BENCH, "--worker", self.name], spec, "%s_%s" % (side, tag))
        finally:
            if not self.args.keep_datasets and fo.dataset_exists(name):
                fo.delete_dataset(name)

    def run_worker(self, command: list[str], spec: dict, tag: str, env: dict | None = None) -> dict:
        """Runs ``command SPEC OUT`` (a fresh process) with :meth:`annotate`
        answering its pause; its output."""
        spec_path, out_path, log_path = (
            os.path.join(self.out_dir, tag + ext) for ext in (".spec.json", ".json", ".log")
        )
        with open(spec_path, "w") as f:
            json.dump(spec, f)
        out = run_worker_process(
            command + [spec_path, out_path], out_path, log_path, self.timeout(), self.annotate, env
        )
        if out.get("error"):
            log("worker %s failed: %s" % (tag, out["error"]))
            print(out.get("traceback", ""), flush=True)
        return out

    def timeout(self) -> float:
        """Seconds a round may take."""
        return 900 + 2.0 * self.args.n

    def sdk_python(self) -> str:
        """The Python of the service's tool environment (the official SDK)."""
        return os.path.join(CACHE, self.service.tool_envs[0].venv, "bin", "python")

    def sdk_spec(self, dataset: Any) -> dict:
        """What every SDK baseline's spec holds: the server, the inputs
        (read from ``dataset`` once, the base's read timed), the counting
        rules."""
        if dataset.name not in self._items:
            t0 = time.perf_counter()
            items = sdk_items(dataset)
            if dataset.name == self.base_name:
                self.report["sdk_inputs_seconds"] = time.perf_counter() - t0  # a by-hand script pays it too
            self._items[dataset.name] = os.path.join(self.out_dir, "items_%s.json" % dataset.name)
            with open(self._items[dataset.name], "w") as f:
                json.dump(items, f)
        keys = ("url", "api_key", "server_pid", "path_rules")
        spec = {k: getattr(self, k) for k in keys}
        spec.update(items=self._items[dataset.name], control=True, reset_stats_per_phase=self.reset_stats_per_phase)
        return spec

    def start_emulator(self, extra: list[str]) -> None:
        """Starts the registry's local server module as a CLI emulator."""
        self.api_key = "bench-" + secrets.token_hex(12)
        module = self.service.local_server.partition(":")[0]
        log("starting the %s emulator (%s)..." % (self.service.title, module))
        self.emulator = EmulatorProcess(module, self.api_key, os.path.join(self.out_dir, "emulator.log"), extra).start()
        self.url = self.emulator.url
        self.server_pid = self.emulator.process.pid if self.emulator.process else None
        self.control = EmulatorControl(self.url, self.api_key)
        command = " ".join(["python -m", module] + [shlex.quote(c) for c in extra])
        self.report["server"].update(url=self.url, pid=self.server_pid, command=command)
        log("emulator up at %s (pid %s)" % (self.url, self.server_pid))

    def probe(self, what: str, request: Callable[[Callable], Any], calls: int = 30) -> None:
        """Median milliseconds of a small request (``what``), ``request(send)``
        with ``send`` a ``requests`` ``request`` function: on a kept-alive
        connection and with a new connection each; into the report."""
        import requests

        out: dict = {"what": what}
        with requests.Session() as session:
            for label, send in (("keepalive_ms", session.request), ("new_connection_ms", requests.request)):
                request(send).raise_for_status()
                times = []
                for _ in range(calls):
                    t0 = time.perf_counter()
                    request(send).raise_for_status()
                    times.append((time.perf_counter() - t0) * 1000)
                out[label] = statistics.median(times)
        log("%s: %.1f ms kept-alive, %.1f ms on a new connection (median)" % tuple(out.values()))
        self.report["server"]["probe"] = out

    def print_round(self, side: str, out: dict) -> None:
        """A round's figures on the console."""
        for phase in self.sides[side].phases:
            ph = (out.get("phases") or {}).get(phase)
            server = (out.get("server") or {}).get(phase)
            if ph:
                log(
                    "  %-11s %-16s %8.2f s %5d requests%s  peak RSS %5.0f MB (%+.0f)"
                    % (
                        side,
                        phase,
                        ph["seconds"],
                        ph["requests"],
                        " (server: %d, %s 429)" % (server["requests"], (server.get("statuses") or {}).get("429", 0))
                        if server
                        else "",
                        ph["rss_peak_mb"],
                        ph["rss_growth_mb"],
                    )
                )
        annotator = out.get("annotator") or {}
        if annotator:
            log(
                "  %-11s (annotator: %d items in %.1f s, untimed)"
                % (side, annotator.get("annotated", 0), annotator.get("seconds", 0))
            )

    def run_sweep(self, tag: str, paths: list[str]) -> dict:
        """One point of a scaling sweep: ours' ``annotate()`` (and cleanup)
        of ``paths``, in a fresh subprocess."""
        nbytes = sum(os.path.getsize(p) for p in paths)
        log("sweep, ours: annotate() of %d files, %.0f MB..." % (len(paths), nbytes / MB))
        dataset = build_dataset("bench_%s_sweep_%s" % (self.name, tag), paths, with_boxes=False, metadata=False)
        self.datasets.append(dataset.name)
        out = self.run_fiftyone("ours", "sweep_" + tag, dataset, mode="sweep", breakdown=None)
        out.update(tag=tag, files=len(paths), bytes=nbytes)
        self.report.setdefault("sweep", []).append(out)
        ph = (out.get("phases") or {}).get("annotate")
        if ph:
            log(
                "  %.1f s, %d requests, peak RSS %.0f MB (%+.0f MB)"
                % (ph["seconds"], ph["requests"], ph["rss_peak_mb"], ph["rss_growth_mb"])
            )
        return out
