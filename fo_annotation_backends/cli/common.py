"""What every command of the command line shares: the program's name, our
backends and how messages name them, the two errors the command line turns
into exit codes, and small helpers (printing, the umask, error messages)."""

from __future__ import annotations

import os

from .. import registry

PROG = "fo-annotation-backends"

#: our backends: the name they are registered under -> the config class
CONFIG_CLASSES = {service.name: service.config_cls for service in registry.SERVICES}

#: what the backends are called in messages
TITLES = {service.name: service.title for service in registry.SERVICES}

#: env vars our config classes read themselves, besides FiftyOne's
#: ``FIFTYONE_<BACKEND>_<PARAM>`` (which follow the name the backend is
#: registered under)
EXTRA_KEY_ENVS = {service.name: service.extra_key_envs for service in registry.SERVICES}
EXTRA_URL_ENVS = {service.name: service.extra_url_envs for service in registry.SERVICES}

#: FiftyOne's own backends (a file entry with one of these names replaces it)
FIFTYONE_BUILTIN_BACKENDS = registry.FIFTYONE_BUILTIN_BACKENDS


class CliError(Exception):
    """A failure reported as ``error: <message>`` with exit code 1."""


class UsageError(Exception):
    """A bad combination of arguments: exit code 2."""


def print_lines(*lines: object) -> None:
    """Prints each line to stdout."""
    for line in lines:
        print(line)


def current_umask() -> int:
    """The process's umask (reading it means setting it: it is set back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def first_line(error: BaseException, limit: int = 300) -> str:
    """The first line of an error's message (its type's name when empty), cut at ``limit`` characters."""
    lines = (str(error) or type(error).__name__).strip().splitlines()
    text = lines[0] if lines else type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
