"""``fo-annotation-backends status DATASET [ANNO_KEY]``: the progress of
annotation runs, from the service."""

from __future__ import annotations

import argparse
import os
import sys

from .common import PROG, CliError, first_line, print_lines
from .config_file import annotation_config_path


def _use_annotation_config(path: str) -> None:
    """Makes FiftyOne read the annotation config at ``path``."""
    os.environ["FIFTYONE_ANNOTATION_CONFIG_PATH"] = path
    if "fiftyone" in sys.modules:  # already loaded (in-process use)
        import fiftyone as fo
        import fiftyone.core.config as foc

        fo.annotation_config = foc.load_annotation_config()


def cmd_status(args: argparse.Namespace) -> int:
    """``status``: prints the progress of a run of the dataset (of each run
    of our backends without ANNO_KEY); returns 1 when one fails, else 0."""
    if args.config_path:
        _use_annotation_config(annotation_config_path(args.config_path))
    import fiftyone as fo

    if not fo.dataset_exists(args.dataset):
        names = fo.list_datasets()
        shown = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
        raise CliError("there is no dataset named %r (datasets: %s)" % (args.dataset, shown or "none"))
    dataset = fo.load_dataset(args.dataset)
    all_keys = dataset.list_annotation_runs()
    if args.anno_key is not None:
        if args.anno_key not in all_keys:
            raise CliError(
                "dataset %r has no annotation run %r (its runs: %s)"
                % (args.dataset, args.anno_key, ", ".join(all_keys) or "none")
            )
        keys = [args.anno_key]
    else:
        keys = []
        for key in all_keys:
            try:
                config = dataset.get_annotation_info(key).config
            except Exception:
                continue
            if type(config).__module__.startswith("fo_annotation_backends."):
                keys.append(key)
        if not keys:
            print_lines(
                "dataset %r has no annotation run of fo-annotation-backends%s"
                % (args.dataset, " (other runs: %s)" % ", ".join(all_keys) if all_keys else "")
            )
            return 0
    from ..core.secrets import redact

    failures = 0
    for n, key in enumerate(keys):
        if n:
            print_lines("")
        try:
            config = dataset.get_annotation_info(key).config
            backend = getattr(config, "name", None) or getattr(config, "method", None) or "?"
        except Exception as e:
            failures += 1
            print_lines("FAIL  run %r: its record does not load: %s" % (key, redact(first_line(e))))
            continue
        print_lines("run %r of dataset %r (backend %s):" % (key, args.dataset, backend))
        try:
            results = dataset.load_annotation_results(key)
            if results is None:
                raise CliError("the run has no results (its upload did not finish)")
            if hasattr(results, "print_status"):
                sys.stdout.flush()
                results.print_status()
            else:
                print_lines("    %s" % (results.get_status(),))
        except Exception as e:
            failures += 1
            from ..core.errors import AuthenticationError, ServiceUnavailableError

            env = "FIFTYONE_%s_API_KEY" % str(backend).upper()
            if isinstance(e, AuthenticationError):
                fix = "export %s=<a valid key> (or set api_key of backend %s in the annotation config)" % (env, backend)
            elif isinstance(e, ServiceUnavailableError):
                fix = "start the server or reach it (its url is stored with the run: %s); then `%s doctor`" % (
                    getattr(config, "url", None) or "see the annotation config",
                    PROG,
                )
            else:
                fix = "check the backend with `%s doctor`" % PROG
            print_lines("FAIL  run %r: %s: %s -- fix: %s" % (key, type(e).__name__, redact(first_line(e)), fix))
    sys.stdout.flush()
    return 1 if failures else 0
