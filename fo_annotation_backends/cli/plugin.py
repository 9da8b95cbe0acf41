"""``fo-annotation-backends plugin install``: finds the App plugin (the
folder with our ``fiftyone.yml``) and links or copies it into FiftyOne's
plugins directory."""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import re
import secrets
import shutil
import sys
import tempfile
from collections.abc import Iterable, Mapping
from typing import Any

from .common import PROG, CliError, current_umask, print_lines
from .config_file import read_json_object

PLUGIN_INSTALL_NAME = "fo-annotation-backends"
PLUGIN_NAME_PREFIX = "@fo-annotation-backends/"
PLUGIN_MANIFESTS = ("fiftyone.yml", "fiftyone.yaml")
#: written into a copied plugin, so that a later install knows it is ours
PLUGIN_MARKER = ".fo-annotation-backends-install.json"


def _read_manifest_name(manifest: str) -> str | None:
    try:
        with open(manifest, "r", encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return None
    try:
        import yaml

        doc = yaml.safe_load(text)
        return doc.get("name") if isinstance(doc, dict) else None
    except ImportError:  # pragma: no cover - PyYAML comes with FiftyOne
        match = re.search(r"(?m)^name:\s*['\"]?([^'\"\n]+)", text)
        return match.group(1).strip() if match else None
    except Exception:
        return None


def _manifest_in(directory: str) -> str | None:
    for name in PLUGIN_MANIFESTS:
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            return path
    return None


def is_our_plugin_dir(directory: str) -> bool:
    """Whether ``directory`` holds a manifest of our plugin (its name starts
    with ``@fo-annotation-backends/``)."""
    manifest = _manifest_in(directory)
    name = _read_manifest_name(manifest) if manifest else None
    return bool(name and str(name).startswith(PLUGIN_NAME_PREFIX))


def find_plugin_source(
    package_dir: str | None = None,
    dist_files: Iterable[str] | None = None,
    prefixes: Iterable[str] | None = None,
) -> str:
    """The directory that holds our ``fiftyone.yml``.

    Looked for: a ``plugin`` folder inside the package (a package that ships
    it), the package itself, the directory next to the package (a checkout,
    an editable install), ``<prefix>/share/fo-annotation-backends`` (data
    files), and any ``fiftyone.yml`` among the installed distribution's
    files. Only a manifest whose name starts with
    ``@fo-annotation-backends/`` counts.

    Raises:
        CliError: when there is none
    """
    if package_dir is None:
        # fo_annotation_backends/, the parent of this cli/ package
        package_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if prefixes is None:
        prefixes = list(dict.fromkeys([sys.prefix, sys.base_prefix]))
    candidates = [
        os.path.join(package_dir, "plugin"),
        os.path.join(package_dir, "fiftyone_plugin"),
        package_dir,
        os.path.dirname(package_dir),
    ]
    for prefix in prefixes:
        for name in ("fo-annotation-backends", "fo_annotation_backends"):
            candidates.append(os.path.join(prefix, "share", name))
            candidates.append(os.path.join(prefix, "share", name, "plugin"))
    if dist_files is None:
        dist_files = _distribution_manifests()
    candidates.extend(os.path.dirname(p) for p in dist_files)
    seen = set()
    for candidate in candidates:
        candidate = os.path.realpath(candidate)
        if candidate in seen:
            continue
        seen.add(candidate)
        if os.path.isdir(candidate) and is_our_plugin_dir(candidate):
            return candidate
    raise CliError(
        "could not find the plugin's fiftyone.yml next to the package (%s) nor among the installed files; "
        "install fo-annotation-backends from a checkout (pip install -e .) or download the plugin with "
        "`fiftyone plugins download <repository url>`" % package_dir
    )


def _distribution_manifests() -> list[str]:
    try:
        from importlib import metadata

        dist = metadata.distribution("fo-annotation-backends")
    except Exception:
        return []
    found = []
    for f in dist.files or []:
        if os.path.basename(str(f)) in PLUGIN_MANIFESTS:
            found.append(str(dist.locate_file(f)))
    return found


def fiftyone_plugins_dir(environ: Mapping[str, str] | None = None) -> str:
    """Where FiftyOne looks for plugins: ``FIFTYONE_PLUGINS_DIR``, else
    ``plugins_dir`` of FiftyOne's config file, else
    ``<default_dataset_dir>/__plugins__`` (``~/fiftyone/__plugins__``)."""
    environ = os.environ if environ is None else environ
    if environ.get("FIFTYONE_PLUGINS_DIR"):
        return os.path.abspath(os.path.expanduser(environ["FIFTYONE_PLUGINS_DIR"]))
    config_path = os.path.expanduser(
        environ.get("FIFTYONE_CONFIG_PATH") or os.path.join("~", ".fiftyone", "config.json")
    )
    try:
        config, _ = read_json_object(config_path)
    except CliError:
        config = {}
    if config.get("plugins_dir"):
        return os.path.abspath(os.path.expanduser(config["plugins_dir"]))
    base = (
        environ.get("FIFTYONE_DEFAULT_DATASET_DIR")
        or config.get("default_dataset_dir")
        or os.path.join("~", "fiftyone")
    )
    return os.path.abspath(os.path.join(os.path.expanduser(base), "__plugins__"))


def _walk_files(folder: str, base: str) -> list[str]:
    """Files under ``folder`` relative to ``base`` (no caches, nothing hidden)."""
    files = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
        for name in sorted(names):
            if not name.startswith(".") and not name.endswith((".pyc", ".pyo")):
                files.append(os.path.relpath(os.path.join(root, name), base))
    return files


def _plugin_files(source: str) -> list[str]:
    """``[relative path]`` of what a copy of the plugin holds.

    A dedicated plugin folder is copied whole (caches and hidden files
    left out). A project checkout (``pyproject.toml`` next to the manifest)
    gives the manifest, its Python entry (with the folder of plugin code it
    sits in, when that is not the checkout itself) and its JS bundle.
    """
    manifest = _manifest_in(source)
    if not any(os.path.exists(os.path.join(source, n)) for n in ("pyproject.toml", "setup.py", ".git")):
        return _walk_files(source, source)
    if manifest is None:
        raise CliError("%s has no plugin manifest (%s)" % (source, " or ".join(PLUGIN_MANIFESTS)))
    files = [os.path.basename(manifest)]
    doc: dict[str, Any] = {}
    try:
        import yaml

        with open(manifest, "r", encoding="utf-8") as f:
            doc = yaml.safe_load(f) or {}
    except Exception:
        pass
    py_entry = os.path.normpath(doc.get("py_entry") or "__init__.py")
    if os.path.isfile(os.path.join(source, py_entry)):
        entry_dir = os.path.dirname(py_entry)
        if entry_dir:
            files.extend(_walk_files(os.path.join(source, entry_dir), source))
        else:
            files.append(py_entry)
    js_bundle = os.path.normpath(doc.get("js_bundle") or os.path.join("dist", "index.umd.js"))
    if os.path.isfile(os.path.join(source, js_bundle)):
        files.append(js_bundle)
    for extra in ("requirements.txt",):
        if os.path.isfile(os.path.join(source, extra)):
            files.append(extra)
    return list(dict.fromkeys(files))


def _copy_is_current(dest: str, source: str, files: list[str]) -> bool:
    marker = os.path.join(dest, PLUGIN_MARKER)
    try:
        with open(marker) as f:
            info = json.load(f)
    except (OSError, ValueError):
        return False
    if info.get("source") != source or sorted(info.get("files") or []) != sorted(files):
        return False
    return all(
        os.path.isfile(os.path.join(dest, rel))
        and filecmp.cmp(os.path.join(source, rel), os.path.join(dest, rel), shallow=False)
        for rel in files
    )


def _make_copy(source: str, files: list[str], parent: str) -> str:
    tmp = tempfile.mkdtemp(dir=parent, prefix=".%s.tmp-" % PLUGIN_INSTALL_NAME)
    try:
        for rel in files:
            dest = os.path.join(tmp, rel)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.copy2(os.path.join(source, rel), dest)
        with open(os.path.join(tmp, PLUGIN_MARKER), "w") as f:
            json.dump({"source": source, "files": sorted(files)}, f, indent=2)
        os.chmod(tmp, 0o755 & ~current_umask())
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tmp


def _swap_into_place(new: str, dest: str) -> None:
    """Puts ``new`` (a link or a directory, in the same parent) at ``dest``,
    replacing what is there (a link or a directory)."""
    new_is_dir = os.path.isdir(new) and not os.path.islink(new)
    dest_is_dir = os.path.isdir(dest) and not os.path.islink(dest)
    if not os.path.lexists(dest) or not (new_is_dir or dest_is_dir):
        os.replace(new, dest)  # one atomic step: a link over a link
        return
    # rename() cannot put a directory over a link (or anything over a
    # directory): move the old one aside, then remove it
    trash = os.path.join(os.path.dirname(dest), ".%s.old-%s" % (PLUGIN_INSTALL_NAME, secrets.token_hex(4)))
    os.rename(dest, trash)
    try:
        os.rename(new, dest)
    except BaseException:
        os.rename(trash, dest)
        raise
    if dest_is_dir:
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.unlink(trash)


def install_plugin(plugins_dir: str, source: str, copy_files: bool = False) -> tuple[str, str]:
    """Installs the plugin under ``plugins_dir/fo-annotation-backends``.

    Returns:
        ``(what, dest)``: ``what`` is ``"up to date"``, ``"installed"`` or
        ``"replaced <what was there> with"``

    Raises:
        CliError: something else, not made by this command, has that name
    """
    dest = os.path.join(plugins_dir, PLUGIN_INSTALL_NAME)
    source = os.path.realpath(source)
    existing = None
    if os.path.islink(dest):
        existing = "a link to %s" % os.readlink(dest)
        if not copy_files and os.path.realpath(dest) == source:
            return "up to date", dest
    elif os.path.isdir(dest):
        if not os.path.isfile(os.path.join(dest, PLUGIN_MARKER)):
            raise CliError(
                "%s exists and was not installed by this command; nothing was changed. Remove it (or move it "
                "away) and run `%s plugin install` again, or install into another folder with --dir" % (dest, PROG)
            )
        existing = "a copy"
    elif os.path.lexists(dest):
        raise CliError(
            "%s exists and is not a directory; nothing was changed. Remove it and run the command again" % dest
        )

    os.makedirs(plugins_dir, exist_ok=True)
    if copy_files:
        files = _plugin_files(source)
        if existing == "a copy" and _copy_is_current(dest, source, files):
            return "up to date", dest
        new = _make_copy(source, files, plugins_dir)
    else:
        new = os.path.join(plugins_dir, ".%s.tmp-%s" % (PLUGIN_INSTALL_NAME, secrets.token_hex(4)))
        os.symlink(source, new, target_is_directory=True)
    try:
        _swap_into_place(new, dest)
    except BaseException:
        if os.path.islink(new):
            os.unlink(new)
        else:
            shutil.rmtree(new, ignore_errors=True)
        raise
    return ("replaced %s with" % existing if existing else "installed"), dest


def cmd_plugin_install(args: argparse.Namespace) -> int:
    """``plugin install``: links (or, with ``--copy``, copies) the plugin
    into the plugins directory; returns the exit code."""
    plugins_dir = os.path.abspath(os.path.expanduser(args.dir)) if args.dir else fiftyone_plugins_dir()
    source = find_plugin_source()
    try:
        what, dest = install_plugin(plugins_dir, source, copy_files=args.copy)
    except OSError as e:
        raise CliError("could not install the plugin into %s: %s" % (plugins_dir, e.strerror or e)) from None
    kind = "a copy of" if args.copy else "a link to"
    if what == "up to date":
        print_lines("plugin: already up to date (%s is %s %s): nothing to do." % (dest, kind, source))
    else:
        if what == "installed":
            print_lines("plugin: installed %s, %s %s." % (dest, kind, source))
        else:
            print_lines("plugin: %s %s %s (at %s)." % (what, kind, source, dest))
    if fiftyone_plugins_dir() != plugins_dir:
        print_lines(
            "FiftyOne looks in %s: export FIFTYONE_PLUGINS_DIR=%s to use this one."
            % (fiftyone_plugins_dir(), plugins_dir)
        )
    return 0
