"""The command line of fo-annotation-backends.

    fo-annotation-backends setup      registers the backends in FiftyOne's annotation config
    fo-annotation-backends plugin install   makes the App plugin available to FiftyOne
    fo-annotation-backends doctor     checks the database, the backends, their keys and servers
    fo-annotation-backends status DATASET [ANNO_KEY]   the progress of annotation runs

Also ``python -m fo_annotation_backends``. Exit codes: 0 ok, 1 failure, 2
usage error.

``setup`` and ``plugin`` do not import FiftyOne (they only edit files);
``doctor`` and ``status`` do.

This package holds the parser and :func:`main`; each command is a module
(:mod:`.setup`, :mod:`.plugin`, :mod:`.doctor`, :mod:`.status`), the
annotation config file is :mod:`.config_file` and what they share is
:mod:`.common`. The names below stay importable from
``fo_annotation_backends.cli``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .. import registry
from .common import (
    CONFIG_CLASSES,
    EXTRA_KEY_ENVS,
    EXTRA_URL_ENVS,
    FIFTYONE_BUILTIN_BACKENDS,
    PROG,
    TITLES,
    CliError,
    UsageError,
)
from .config_file import (
    DEFAULT_ANNOTATION_CONFIG,
    SECRET_KEY_RE,
    annotation_config_path,
    atomic_write,
    dump_config,
    has_secrets,
    masked,
    merge_annotation_config,
    read_json_object,
)
from .doctor import Report, cmd_doctor
from .plugin import (
    PLUGIN_INSTALL_NAME,
    PLUGIN_MANIFESTS,
    PLUGIN_MARKER,
    PLUGIN_NAME_PREFIX,
    cmd_plugin_install,
    fiftyone_plugins_dir,
    find_plugin_source,
    install_plugin,
    is_our_plugin_dir,
)
from .setup import cmd_setup, parse_backends
from .status import cmd_status

__all__ = [
    "CONFIG_CLASSES",
    "DEFAULT_ANNOTATION_CONFIG",
    "EXTRA_KEY_ENVS",
    "EXTRA_URL_ENVS",
    "FIFTYONE_BUILTIN_BACKENDS",
    "PLUGIN_INSTALL_NAME",
    "PLUGIN_MANIFESTS",
    "PLUGIN_MARKER",
    "PLUGIN_NAME_PREFIX",
    "PROG",
    "SECRET_KEY_RE",
    "TITLES",
    "CliError",
    "Report",
    "UsageError",
    "annotation_config_path",
    "atomic_write",
    "build_parser",
    "cmd_doctor",
    "cmd_plugin_install",
    "cmd_setup",
    "cmd_status",
    "dump_config",
    "fiftyone_plugins_dir",
    "find_plugin_source",
    "has_secrets",
    "install_plugin",
    "is_our_plugin_dir",
    "main",
    "masked",
    "merge_annotation_config",
    "parse_backends",
    "read_json_object",
]

#: the name it had in the single-module cli.py (still imported from here)
_is_our_plugin_dir = is_our_plugin_dir


class _Parser(argparse.ArgumentParser):
    """The top-level parser; it knows the parsers of the commands that have
    subcommands (their usage is printed when none is chosen)."""

    _subcommand_parsers: dict[str, argparse.ArgumentParser]


def build_parser() -> _Parser:
    """The argument parser: one subcommand per command, each with its ``func``."""
    _first, _second = registry.names()[0], registry.names()[-1]
    parser = _Parser(
        prog=PROG,
        description="Set up and check the FiftyOne annotation backends of fo-annotation-backends "
        "(%s)." % ", ".join(registry.names()),
        epilog="examples:\n"
        "  %%(prog)s setup --url %s=http://localhost:8080 --default-backend %s\n"
        "  %%(prog)s setup --backends %s --dry-run\n"
        "  %%(prog)s plugin install\n"
        "  %%(prog)s doctor\n"
        "  %%(prog)s status my-dataset run1\n"
        "\nexit codes: 0 ok, 1 failure, 2 usage error" % (_first, _first, _second),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from .. import __version__

    parser.add_argument("--version", action="version", version="%(prog)s " + __version__)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    setup = commands.add_parser(
        "setup",
        help="register the backends in FiftyOne's annotation config",
        description="Registers %s in FiftyOne's annotation config file "
        "(FIFTYONE_ANNOTATION_CONFIG_PATH, else ~/.fiftyone/annotation_config.json). Merges: other "
        "backends and other keys of these entries stay as they are. Writes atomically, keeps the "
        "previous file as <file>.bak, and never writes an API key unless --write-api-key is given."
        % ", ".join(registry.names()),
    )
    setup.add_argument(
        "--backends",
        default=",".join(CONFIG_CLASSES),
        metavar="NAMES",
        help="comma-separated backends to register (default: %(default)s)",
    )
    setup.add_argument("--default-backend", metavar="NAME", help="also make NAME FiftyOne's default backend")
    setup.add_argument("--url", action="append", metavar="BACKEND=URL", help="the server of a backend (repeatable)")
    setup.add_argument(
        "--write-api-key",
        action="append",
        metavar="BACKEND=KEY",
        help="write a key into the file (discouraged: use FIFTYONE_<BACKEND>_API_KEY; the file becomes 0600)",
    )
    setup.add_argument("--config-path", metavar="PATH", help="the annotation config file to edit")
    setup.add_argument("--dry-run", action="store_true", help="print what would change, write nothing")
    setup.set_defaults(func=cmd_setup, parser=setup)

    plugin = commands.add_parser("plugin", help="the FiftyOne App plugin", description="The FiftyOne App plugin.")
    plugin_commands = plugin.add_subparsers(dest="plugin_command", metavar="COMMAND")
    install = plugin_commands.add_parser(
        "install",
        help="link (or copy) the plugin into FiftyOne's plugins directory",
        description="Links (or copies) the plugin folder (the one with fiftyone.yml) into FiftyOne's plugins "
        "directory (FIFTYONE_PLUGINS_DIR, else ~/fiftyone/__plugins__) as %s." % PLUGIN_INSTALL_NAME,
    )
    install.add_argument("--dir", metavar="DIR", help="the plugins directory (default: FiftyOne's)")
    install.add_argument("--copy", action="store_true", help="copy the files instead of linking the folder")
    install.set_defaults(func=cmd_plugin_install, parser=install)

    doctor = commands.add_parser(
        "doctor",
        help="check the database, the backends, their keys and servers",
        description="Checks FiftyOne's database, each configured backend (its config_cls imports, its key is "
        "found, its server answers and accepts the key) and the App plugin. Keys are never printed. "
        "Exit code 1 if anything fails.",
    )
    doctor.add_argument("--config-path", metavar="PATH", help="the annotation config file to check")
    doctor.add_argument(
        "--timeout", type=float, default=10.0, metavar="SECONDS", help="per server request (default: %(default)s)"
    )
    doctor.add_argument(
        "--db-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="for the database to start (default: %(default)s)",
    )
    doctor.set_defaults(func=cmd_doctor, parser=doctor)

    status = commands.add_parser(
        "status",
        help="the progress of annotation runs",
        description="Prints the status of an annotation run of DATASET (all runs of these backends when "
        "ANNO_KEY is not given), from the annotation service.",
    )
    status.add_argument("dataset", metavar="DATASET")
    status.add_argument("anno_key", nargs="?", metavar="ANNO_KEY")
    status.add_argument("--config-path", metavar="PATH", help="the annotation config file to use")
    status.set_defaults(func=cmd_status, parser=status)

    parser._subcommand_parsers = {"plugin": plugin}
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version, usage errors
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    if getattr(args, "func", None) is None:
        sub = parser._subcommand_parsers.get(args.command)
        (sub or parser).print_usage(sys.stderr)
        print("%s: error: choose a command" % (sub.prog if sub else PROG), file=sys.stderr)
        return 2
    try:
        return args.func(args)
    except UsageError as e:
        args.parser.print_usage(sys.stderr)
        print("%s: error: %s" % (args.parser.prog, e), file=sys.stderr)
        return 2
    except CliError as e:
        print("error: %s" % e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
