"""FiftyOne's annotation config file (``annotation_config.json``): where it
is, reading it, merging our backends into it, and writing it atomically with
a ``.bak`` of the previous version. Secrets in it are never printed."""

from __future__ import annotations

import copy
import json
import os
import re
import stat
import tempfile
from collections.abc import Iterable, Mapping
from typing import Any

from .common import CONFIG_CLASSES, CliError, current_umask

DEFAULT_ANNOTATION_CONFIG = os.path.join("~", ".fiftyone", "annotation_config.json")

#: keys of a backend entry that hold secrets (never printed)
SECRET_KEY_RE = re.compile(r"(?i)(api_?key|password|passwd|secret|token)")


def annotation_config_path(path: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The annotation config file: ``path``, else
    ``FIFTYONE_ANNOTATION_CONFIG_PATH``, else
    ``~/.fiftyone/annotation_config.json`` (where FiftyOne looks)."""
    environ = os.environ if environ is None else environ
    if not path:
        path = environ.get("FIFTYONE_ANNOTATION_CONFIG_PATH") or DEFAULT_ANNOTATION_CONFIG
    return os.path.abspath(os.path.expanduser(path))


def read_json_object(path: str) -> tuple[dict[str, Any], bytes | None]:
    """``(data, raw_bytes)`` of a JSON object file; ``({}, None)`` when the
    file does not exist. Raises :class:`CliError` for anything else."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        return {}, None
    except OSError as e:
        raise CliError("cannot read %s: %s" % (path, e.strerror or e)) from None
    if not raw.strip():
        return {}, raw
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise CliError(
            "%s is not valid JSON (%s); nothing was changed. Fix the file (or restore %s.bak if there is one) "
            "and run the command again" % (path, e, path)
        ) from None
    if not isinstance(data, dict):
        raise CliError("%s holds a JSON %s, not an object; nothing was changed" % (path, type(data).__name__))
    return data, raw


def _fsync_directory(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str, content: bytes, mode: int) -> None:
    """Writes ``content`` (bytes) to ``path`` atomically: a temporary file in
    the same directory, fsync'ed, given ``mode``, then ``os.replace``'d over
    ``path``. On any failure ``path`` is untouched and the temporary file is
    removed."""
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
            f.flush()
            os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_directory(directory)


def has_secrets(data: object) -> bool:
    """Whether any backend entry of an annotation config holds a secret."""
    backends = data.get("backends") if isinstance(data, dict) else None
    if not isinstance(backends, dict):
        return False
    return any(
        isinstance(entry, dict) and any(SECRET_KEY_RE.search(str(k)) and v for k, v in entry.items())
        for entry in backends.values()
    )


def masked(data: dict[str, Any]) -> dict[str, Any]:
    """A copy of an annotation config with every secret replaced by ``***``."""
    data = copy.deepcopy(data)
    for entry in (data.get("backends") or {}).values():
        if isinstance(entry, dict):
            for k, v in entry.items():
                if SECRET_KEY_RE.search(str(k)) and v:
                    entry[k] = "***"
    return data


def dump_config(data: Mapping[str, Any]) -> bytes:
    """The bytes of an annotation config file holding ``data``."""
    return (json.dumps(data, indent=4, ensure_ascii=False) + "\n").encode("utf-8")


def merge_annotation_config(
    data: dict[str, Any],
    backends: Iterable[str],
    urls: Mapping[str, str] | None = None,
    api_keys: Mapping[str, str] | None = None,
    default_backend: str | None = None,
) -> tuple[dict[str, Any], list[tuple[str, list[str]]]]:
    """Merges our backends into an annotation config (not modified).

    Only ``config_cls`` of each backend, the given ``urls`` and ``api_keys``,
    and ``default_backend`` (when given) are set; every other backend and
    every other key stays as it is.

    Returns:
        ``(new_data, changes)``: ``changes`` is ``[(backend, [what
        changed])]`` in the order of ``backends`` (an empty list: up to date)
    """
    urls = urls or {}
    api_keys = api_keys or {}
    new = copy.deepcopy(data)
    entries = new.get("backends")
    if entries is None:
        entries = new["backends"] = {}
    elif not isinstance(entries, dict):
        raise CliError(
            '"backends" of the annotation config is a %s, not an object; nothing was changed' % type(entries).__name__
        )
    changes: list[tuple[str, list[str]]] = []
    for name in backends:
        entry = entries.get(name)
        config_cls = CONFIG_CLASSES[name]
        if entry is None:
            entry = entries[name] = {"config_cls": config_cls}
            details = ["config_cls %s" % config_cls]
            if name in urls:
                entry["url"] = urls[name]
                details.append("url %s" % urls[name])
            if name in api_keys:
                entry["api_key"] = api_keys[name]
                details.append("API key written")
            changes.append((name, ["added (%s)" % ", ".join(details)]))
            continue
        if not isinstance(entry, dict):
            raise CliError(
                'the entry of backend "%s" is a %s, not an object; nothing was changed' % (name, type(entry).__name__)
            )
        what: list[str] = []
        if entry.get("config_cls") != config_cls:
            what.append("config_cls %s (was %s)" % (config_cls, entry.get("config_cls") or "unset"))
            entry["config_cls"] = config_cls
        if name in urls and entry.get("url") != urls[name]:
            what.append("url %s (was %s)" % (urls[name], entry.get("url") or "unset"))
            entry["url"] = urls[name]
        if name in api_keys and entry.get("api_key") != api_keys[name]:
            what.append("API key written")
            entry["api_key"] = api_keys[name]
        changes.append((name, what))
    if default_backend is not None and new.get("default_backend") != default_backend:
        changes.append(
            ("default_backend", ["set to %s (was %s)" % (default_backend, new.get("default_backend") or "unset")])
        )
        new["default_backend"] = default_backend
    return new, changes


def write_config(target: str, new: Mapping[str, Any], raw: bytes | None) -> None:
    """Writes the annotation config ``new`` to ``target`` (``raw``: its
    current bytes, None when it does not exist yet), keeping ``raw`` in
    ``<target>.bak``; both files become 0600 when they hold a key. Raises
    :class:`CliError` when it cannot, with ``target`` unchanged."""
    content = dump_config(new)
    try:
        if raw is None:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            mode = 0o666 & ~current_umask()
        else:
            mode = stat.S_IMODE(os.stat(target).st_mode)
            # the previous content; private if it holds a key
            try:
                holds_key = has_secrets(json.loads(raw.decode("utf-8")))
            except ValueError:
                holds_key = False
            atomic_write(target + ".bak", raw, (mode & ~0o077) | 0o600 if holds_key else mode)
        if has_secrets(new):
            mode = (mode & ~0o077) | 0o600
        atomic_write(target, content, mode)
    except OSError as e:
        raise CliError("could not write %s: %s; the file was not changed" % (target, e.strerror or e)) from None
