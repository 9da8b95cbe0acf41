"""What every command of the command line shares: the program's name, our
backends and how messages name them, the two errors the command line turns
into exit codes, and small helpers (printing, the umask, error messages)."""

import os

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
EXTRA_KEY_ENVS = {
    "labelstudio": (),
    "kili": ("FIFTYONE_KILI_API_KEY",),
    "fastlabel": ("FIFTYONE_FASTLABEL_API_KEY", "FASTLABEL_ACCESS_TOKEN"),
}
EXTRA_URL_ENVS = {
    "labelstudio": (),
    "kili": ("FIFTYONE_KILI_URL",),
    "fastlabel": ("FIFTYONE_FASTLABEL_URL", "FASTLABEL_API_URL"),
}

#: FiftyOne's own backends (a file entry with one of these names replaces it)
FIFTYONE_BUILTIN_BACKENDS = ("cvat", "labelbox", "labelstudio")
#: the url FiftyOne fills in for its built-in ``labelstudio`` entry: a web
#: site, not a server
FIFTYONE_LABELSTUDIO_PLACEHOLDER = "https://labelstud.io"


class CliError(Exception):
    """A failure reported as ``error: <message>`` with exit code 1."""


class UsageError(Exception):
    """A bad combination of arguments: exit code 2."""


def print_lines(*lines):
    """Prints each line to stdout."""
    for line in lines:
        print(line)


def current_umask():
    """The process's umask (reading it means setting it: it is set back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def first_line(error, limit=300):
    """The first line of an error's message (its type's name when empty), cut at ``limit`` characters."""
    text = (str(error) or type(error).__name__).strip().splitlines()
    text = text[0] if text else type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
