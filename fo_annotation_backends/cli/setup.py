"""``fo-annotation-backends setup``: registers our backends in FiftyOne's
annotation config file, then says where the keys go and how to check."""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .. import registry
from .common import (
    CONFIG_CLASSES,
    EXTRA_KEY_ENVS,
    FIFTYONE_BUILTIN_BACKENDS,
    PROG,
    TITLES,
    UsageError,
    print_lines,
)
from .config_file import (
    annotation_config_path,
    dump_config,
    masked,
    merge_annotation_config,
    read_json_object,
    write_config,
)


def _warn(message: str) -> None:
    print("warning: %s" % message, file=sys.stderr)


def _parse_pairs(values: Iterable[str] | None, option: str, backends: Sequence[str]) -> dict[str, str]:
    """``["name=http://..."]`` -> ``{"name": "http://..."}``."""
    pairs: dict[str, str] = {}
    for value in values or []:
        name, sep, rest = value.partition("=")
        name = name.strip()
        if not sep or not name or not rest.strip():
            raise UsageError(
                "%s expects BACKEND=VALUE, got %r" % (option, value if option != "--write-api-key" else name + "=...")
            )
        if name not in backends:
            raise UsageError(
                "%s names %r, which is not one of the backends being set up (%s)" % (option, name, ", ".join(backends))
            )
        if name in pairs:
            raise UsageError("%s is given twice for %s" % (option, name))
        pairs[name] = rest.strip()
    return pairs


def parse_backends(value: str | None) -> list[str]:
    """The backends named by ``--backends`` (``"name1,name2"``), without
    repeats; raises :class:`UsageError` for an empty or unknown name."""
    names = [n.strip() for n in (value or "").split(",") if n.strip()]
    if not names:
        raise UsageError("--backends is empty; choose among %s" % ", ".join(CONFIG_CLASSES))
    unknown = [n for n in names if n not in CONFIG_CLASSES]
    if unknown:
        raise UsageError("unknown backend(s) %s; choose among %s" % (", ".join(unknown), ", ".join(CONFIG_CLASSES)))
    return list(dict.fromkeys(names))


def cmd_setup(args: argparse.Namespace) -> int:
    """``setup``: merges our backends into the annotation config file (or
    shows what would change with ``--dry-run``); returns the exit code."""
    backends = parse_backends(args.backends)
    urls = _parse_pairs(args.url, "--url", backends)
    for name, url in urls.items():
        if not re.match(r"(?i)^https?://[^/\s]+", url):
            raise UsageError("--url %s=%s: a URL starts with http:// or https://" % (name, url))
    api_keys = _parse_pairs(args.write_api_key, "--write-api-key", backends)
    path = annotation_config_path(args.config_path)
    target = os.path.realpath(path)  # a symlinked config file stays a symlink
    data, raw = read_json_object(target)
    if args.default_backend is not None:
        entries = data.get("backends")
        existing = entries if isinstance(entries, dict) else {}
        known = set(backends) | set(FIFTYONE_BUILTIN_BACKENDS) | set(existing)
        if args.default_backend not in known:
            raise UsageError(
                "--default-backend %s is not a backend of the config; choose among %s"
                % (args.default_backend, ", ".join(sorted(known)))
            )
    if api_keys:
        _warn(
            "--write-api-key %s the key in plain text in %s (mode 0600). The recommended place is the environment: %s"
            % (
                "would store" if args.dry_run else "stores",
                path,
                ", ".join("FIFTYONE_%s_API_KEY" % n.upper() for n in api_keys),
            )
        )

    new, changes = merge_annotation_config(data, backends, urls, api_keys, args.default_backend)
    for name, what in changes:
        print_lines("%s: %s" % (name, "; ".join(what) if what else "already up to date"))

    changed = raw is None or new != data
    if not changed:
        print_lines("%s is already up to date: nothing written." % path)
    elif args.dry_run:
        print_lines("dry run: would %s %s (nothing written):" % ("write" if raw is not None else "create", path))
        print_lines(dump_config(masked(new)).decode("utf-8").rstrip("\n"))
    else:
        write_config(target, new, raw)
        if raw is None:
            print_lines("Created %s." % path)
        else:
            print_lines("Wrote %s (the previous version is in %s.bak)." % (path, target))

    _setup_hints(path, new, backends)
    return 0


def _setup_hints(path: str, data: Mapping[str, Any], backends: Sequence[str]) -> None:
    environ = os.environ
    entries = data.get("backends") or {}
    declared = environ.get("FIFTYONE_ANNOTATION_BACKENDS")
    if declared is not None:
        listed = {n.strip() for n in declared.split(",")}
        if "*" in listed:
            listed |= set(FIFTYONE_BUILTIN_BACKENDS)
        missing = [n for n in backends if n not in listed]
        if missing:
            _warn(
                "FIFTYONE_ANNOTATION_BACKENDS=%s hides %s from FiftyOne: add them (FIFTYONE_ANNOTATION_BACKENDS=%s)"
                % (
                    declared,
                    ", ".join(missing),
                    ",".join(["*"] + sorted((listed - set(FIFTYONE_BUILTIN_BACKENDS) - {"*"}) | set(missing))),
                )
            )
    for name in backends:
        env = "FIFTYONE_%s_CONFIG_CLS" % name.upper()
        if environ.get(env) and environ[env] != CONFIG_CLASSES[name]:
            _warn("%s=%s overrides the config file's config_cls of %s" % (env, environ[env], name))
    if annotation_config_path(None) != path:
        print_lines(
            "FiftyOne reads %s: to use %s, export FIFTYONE_ANNOTATION_CONFIG_PATH=%s"
            % (annotation_config_path(None), path, path)
        )
    lines = []
    for name in backends:
        entry = entries.get(name) or {}
        key_env = "FIFTYONE_%s_API_KEY" % name.upper()
        if entry.get("api_key"):
            lines.append("    %s: key in the config file (the environment is the safer place: %s)" % (name, key_env))
        else:
            note = (
                "set in this shell"
                if any(environ.get(e) for e in (key_env,) + EXTRA_KEY_ENVS[name])
                else "not set in this shell"
            )
            lines.append("    export %s=...   # %s, %s" % (key_env, TITLES[name], note))
        url_env = "FIFTYONE_%s_URL" % name.upper()
        service = registry.get(name)
        if service.default_url is None and not entry.get("url") and not environ.get(url_env):
            lines.append(
                "    export %s=...   # no url configured for %s (%s)" % (url_env, service.title, service.endpoint_hint)
            )
    print_lines("Keep the API keys in the environment (FiftyOne reads FIFTYONE_<BACKEND>_API_KEY):", *lines)
    print_lines(
        "Check everything with: %s doctor%s"
        % (PROG, "" if annotation_config_path(None) == path else " --config-path %s" % path)
    )
