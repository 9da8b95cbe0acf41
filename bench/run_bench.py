"""The benchmarks' entry point: ``./run bench [<service>|all] [options]``.

The services are those of ``fo_annotation_backends.registry.SERVICES``; the
``bench`` field of each entry names its module in ``bench/`` (a
:class:`harness.parent.Bench` subclass, exported as ``BENCH``). ``all`` runs
every service's bench in registry order, each with the options it takes (an
option no bench takes is refused). ``./run bench <service> --help`` lists a
bench's options.

Internal: ``run_bench.py --worker <service> SPEC OUT`` is one round of a
FiftyOne backend in a fresh subprocess (see :mod:`harness.fo_worker`).
"""

from __future__ import annotations

import importlib
import os
import shlex
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
for _path in (os.path.dirname(HERE), HERE):  # this checkout's package first, then harness/
    if _path not in sys.path:
        sys.path.insert(0, _path)

from harness.parent import Bench  # noqa: E402

from fo_annotation_backends import registry  # noqa: E402


def load(service: str) -> Bench:
    """The bench of a registered service."""
    bench: Bench = importlib.import_module(registry.get(service).bench).BENCH()
    return bench


def main(argv: list[str]) -> int:
    """Runs the named bench(es); the exit status."""
    if argv[:1] == ["--worker"]:
        from harness import fo_worker
        from harness.measure import worker_main

        bench = load(argv[1])
        return worker_main(lambda spec, out: fo_worker.run(bench, spec, out), argv[2], argv[3])
    which = argv[0] if argv and not argv[0].startswith("-") else "all"
    options = argv[1:] if argv and not argv[0].startswith("-") else argv
    names = registry.names() if which == "all" else [which]
    if which != "all" and which not in registry.names():
        print("unknown bench %r: ./run bench [%s|all] [options]" % (which, "|".join(registry.names())), file=sys.stderr)
        return 2
    if which != "all":
        return load(which).main(options)
    if {"-h", "--help"} & set(options):
        print(__doc__)
        return 0
    unknown = None
    for name in names:  # refuse an option no bench takes before running any
        rest = load(name).parse(options, partial=True)
        unknown = rest if unknown is None else [token for token in unknown if token in rest]
    if unknown:
        print("not an option of any bench: %s" % " ".join(unknown), file=sys.stderr)
        return 2
    command = " ".join(["./run bench all"] + [shlex.quote(a) for a in options])
    return max(load(name).main(options, command) for name in names)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
