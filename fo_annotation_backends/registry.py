"""The services this package speaks to, declared once.

Every part of the package that is not a service's own subpackage (the command
line, the App plugin, the demo, the benchmarks, the generated parts of the
README and of the plugin manifest) iterates over :data:`SERVICES` instead of
naming a service. Adding a service is its subpackage plus one entry here.

Behaviour (checking a server, the local server, the simulated annotator) is
referenced by dotted path (``"package.module:attribute"``) and imported only
when used, so that reading the registry imports neither FiftyOne nor any
service's code.

Run ``python -m fo_annotation_backends.registry_docs --write`` after editing
an entry: it rewrites the generated parts of ``README.md`` and
``fiftyone.yml`` (a test fails while they are out of date).
``python -m fo_annotation_backends.registry --tool-envs`` lists the virtual
environments ``./run setup`` installs for the services' tests.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

PACKAGE = "fo_annotation_backends"

InputKind = Literal["str", "choice", "list"]

#: FiftyOne's own annotation backends: an entry of ours under one of these
#: names replaces FiftyOne's (see :attr:`Service.replaces_builtin`)
FIFTYONE_BUILTIN_BACKENDS = ("cvat", "labelbox", "labelstudio")


def resolve(reference: str) -> Any:
    """The object a ``"package.module:attribute"`` reference names (imported now)."""
    module_name, sep, attribute = reference.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError("%r is not a 'package.module:attribute' reference" % reference)
    value: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        value = getattr(value, part)
    return value


@dataclass(frozen=True)
class AppInput:
    """One backend-specific option of the App's "Request annotations" form.

    The plugin renders it and passes its value to ``annotate()`` under
    :attr:`name` when the user gave one.
    """

    #: the ``annotate()`` parameter (and the form's property name)
    name: str
    label: str
    description: str
    kind: InputKind = "str"
    #: the values of a ``choice`` input: a tuple, or a ``"module:ATTR"``
    #: reference to the backend's own tuple (so the two never drift)
    choices: tuple[str, ...] | str = ()
    #: a description per choice value, shown in the dropdown
    choice_descriptions: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    default: str | None = None
    #: ``(other input, value)``: this input is required when the other has that value
    required_if: tuple[str, str] | None = None

    def choice_values(self) -> tuple[str, ...]:
        """The values a ``choice`` input offers."""
        if isinstance(self.choices, str):
            return tuple(resolve(self.choices))
        return self.choices


@dataclass(frozen=True)
class ToolEnv:
    """A separate virtual environment the test and bench commands need (a
    server or an official SDK), installed by ``./run setup`` into the cache
    directory."""

    #: the directory under the cache directory
    venv: str
    #: what ``pip install`` is given
    requirement: str
    #: a file under the venv that exists once the install is complete
    marker: str
    purpose: str


@dataclass(frozen=True)
class Service:
    """One annotation service: how it is registered, configured, checked,
    offered in the App, emulated, demonstrated and benchmarked."""

    #: the backend name users register it under (and the subpackage's name)
    name: str
    #: how messages and the App call it
    title: str
    #: the config class, relative to the subpackage (``"backend.KiliBackendConfig"``)
    config_class: str
    backend_class: str
    results_class: str
    #: what the service serves at :attr:`default_url` (used in hints)
    endpoint_hint: str
    #: where the service is when no url is configured (None: no default)
    default_url: str | None
    #: environment variables the config class reads for the API key, besides
    #: FiftyOne's ``FIFTYONE_<BACKEND>_API_KEY``, in order of precedence
    extra_key_envs: tuple[str, ...]
    #: the same for the server url (besides ``FIFTYONE_<BACKEND>_URL``)
    extra_url_envs: tuple[str, ...]
    #: ``"module:function"``: ``function(url, api_key, timeout)`` checks the
    #: server and the key and returns who the key belongs to (or None); it
    #: raises this package's errors
    check_server: str
    #: options of the App's request form specific to this service
    app_inputs: tuple[AppInput, ...]
    #: ``"module:Class"`` of a local server for the demo: a context manager
    #: with ``url`` and ``api_key`` (and ``stats()``, ``describe()``)
    local_server: str
    #: ``"module:function"``: ``function(server, results, rng)`` edits the
    #: demo run's labels the way a person would, through the service's API
    demo_annotator: str
    #: extra ``annotate()`` parameters of the demo run
    demo_parameters: Mapping[str, Any]
    #: ``"module:Class"`` of the person of the conformance suite: a
    #: :class:`fo_annotation_backends.testing.humans.base.Human` subclass,
    #: built as ``Class(results, url, api_key)``
    human: str
    #: the pytest fixture that gives the tests a running server of the
    #: service (an object with ``url`` and ``api_key``)
    test_server: str
    #: the module of ``bench/`` that benchmarks this service
    bench: str
    #: virtual environments the tests and benchmarks of this service need
    tool_envs: tuple[ToolEnv, ...] = ()
    #: url values that are not a server (e.g. FiftyOne's default placeholder)
    placeholder_urls: tuple[str, ...] = ()
    #: FiftyOne has a built-in backend of this name (a config entry of ours replaces it)
    replaces_builtin: bool = False

    @property
    def package(self) -> str:
        """The subpackage, e.g. ``fo_annotation_backends.kili``."""
        return "%s.%s" % (PACKAGE, self.name)

    @property
    def config_cls(self) -> str:
        """The dotted path FiftyOne's annotation config takes as ``config_cls``
        (the class as the subpackage exports it)."""
        return "%s.%s" % (self.package, self.config_class.rpartition(".")[2])

    def key_envs_for(self, backend_name: str) -> tuple[str, ...]:
        """Every environment variable the API key of a backend registered as
        ``backend_name`` is read from, in order of precedence: FiftyOne's
        ``FIFTYONE_<NAME>_API_KEY`` first, then the service's own."""
        return tuple(dict.fromkeys(("FIFTYONE_%s_API_KEY" % backend_name.upper(),) + self.extra_key_envs))

    def url_envs_for(self, backend_name: str) -> tuple[str, ...]:
        """The same for the server url (``FIFTYONE_<NAME>_URL`` first)."""
        return tuple(dict.fromkeys(("FIFTYONE_%s_URL" % backend_name.upper(),) + self.extra_url_envs))

    def load(self, what: Literal["config", "backend", "results"]) -> type:
        """The config, backend or results class (imports the subpackage)."""
        relative = {"config": self.config_class, "backend": self.backend_class, "results": self.results_class}[what]
        module, _, name = relative.rpartition(".")
        result: type = resolve("%s.%s:%s" % (self.package, module, name))
        return result

    def hook(self, reference: str) -> Callable[..., Any]:
        """One of this entry's ``"module:attribute"`` references, imported."""
        result: Callable[..., Any] = resolve(reference)
        return result


_LS_PLACEHOLDER = "https://labelstud.io"

SERVICES: tuple[Service, ...] = (
    Service(
        name="labelstudio",
        title="Label Studio",
        config_class="backend.LabelStudioBackendConfig",
        backend_class="backend.LabelStudioBackend",
        results_class="backend.LabelStudioAnnotationResults",
        endpoint_hint="the address you open in a browser",
        default_url=None,
        extra_key_envs=(),
        extra_url_envs=(),
        check_server="fo_annotation_backends.labelstudio.backend:check_server",
        app_inputs=(),
        local_server="fo_annotation_backends.testing.labelstudio_server:LocalLabelStudio",
        demo_annotator="fo_annotation_backends.testing.labelstudio_annotator:demo_edits",
        human="fo_annotation_backends.testing.humans.labelstudio:LabelStudioHuman",
        test_server="ls_server",
        demo_parameters=MappingProxyType({}),
        bench="bench_labelstudio",
        tool_envs=(
            ToolEnv(
                venv="labelstudio-venv",
                requirement="label-studio==1.23.2",
                marker="bin/label-studio",
                purpose="the Label Studio server the tests, demo and benchmarks start",
            ),
        ),
        placeholder_urls=(_LS_PLACEHOLDER,),
        replaces_builtin=True,
    ),
    Service(
        name="kili",
        title="Kili",
        config_class="backend.KiliBackendConfig",
        backend_class="backend.KiliBackend",
        results_class="backend.KiliAnnotationResults",
        endpoint_hint="the GraphQL endpoint, .../api/label/v2/graphql",
        default_url="https://cloud.kili-technology.com/api/label/v2/graphql",
        extra_key_envs=("FIFTYONE_KILI_API_KEY",),
        extra_url_envs=("FIFTYONE_KILI_URL",),
        check_server="fo_annotation_backends.kili.backend:check_server",
        app_inputs=(
            AppInput(
                name="label_selection",
                label="Label selection",
                description="Which label of an asset is loaded",
                kind="choice",
                choices="fo_annotation_backends.kili.backend:LABEL_SELECTIONS",
                choice_descriptions=MappingProxyType(
                    {
                        "latest": "the latest DEFAULT or REVIEW label of each asset",
                        "latest_review": "the latest REVIEW label only",
                        "annotator": "the latest label of one annotator",
                    }
                ),
                default="latest",
            ),
            AppInput(
                name="annotator",
                label="Annotator",
                description="The email of the annotator whose labels are loaded (label selection 'annotator')",
                required_if=("label_selection", "annotator"),
            ),
        ),
        local_server="fo_annotation_backends.testing.kili:KiliEmulator",
        demo_annotator="fo_annotation_backends.testing.kili_annotator:demo_edits",
        human="fo_annotation_backends.testing.humans.kili:KiliHuman",
        test_server="kili_emulator",
        demo_parameters=MappingProxyType({"project_name": "FiftyOne demo"}),
        bench="bench_kili",
        tool_envs=(
            ToolEnv(
                venv="kili-sdk-venv",
                requirement="kili[image]==26.2.4",
                marker="bin/kili",
                purpose="the official Kili SDK, which tests drive against the Kili emulator",
            ),
        ),
    ),
    Service(
        name="fastlabel",
        title="FastLabel",
        config_class="backend.FastLabelBackendConfig",
        backend_class="backend.FastLabelBackend",
        results_class="backend.FastLabelAnnotationResults",
        endpoint_hint="the API base, ending in /v1/",
        default_url="https://api.fastlabel.ai/v1/",
        extra_key_envs=("FIFTYONE_FASTLABEL_API_KEY", "FASTLABEL_ACCESS_TOKEN"),
        extra_url_envs=("FIFTYONE_FASTLABEL_URL", "FASTLABEL_API_URL"),
        check_server="fo_annotation_backends.fastlabel.backend:check_server",
        app_inputs=(
            AppInput(
                name="priority",
                label="Priority",
                description="The tasks' priority",
                kind="choice",
                choices="fo_annotation_backends.fastlabel.backend:PRIORITIES",
            ),
            AppInput(
                name="tags",
                label="Tags",
                description="Tags of every task (the run key is always one)",
                kind="list",
            ),
            AppInput(
                name="assignee",
                label="Assignee",
                description="The slug of the workspace user to assign the tasks to",
            ),
        ),
        local_server="fo_annotation_backends.testing.fastlabel:FastLabelEmulator",
        demo_annotator="fo_annotation_backends.testing.fastlabel_annotator:demo_edits",
        human="fo_annotation_backends.testing.humans.fastlabel:FastLabelHuman",
        test_server="fastlabel_emulator",
        demo_parameters=MappingProxyType({"project_name": "FiftyOne demo", "priority": "high"}),
        bench="bench_fastlabel",
        tool_envs=(
            ToolEnv(
                venv="fastlabel-sdk-venv",
                requirement="fastlabel==0.26.0",
                marker="lib/python3*/site-packages/fastlabel-0.26.0.dist-info",
                purpose="the official FastLabel SDK, which tests drive against the FastLabel emulator",
            ),
        ),
    ),
    Service(
        name="picsellia",
        title="Picsellia",
        config_class="backend.PicselliaBackendConfig",
        backend_class="backend.PicselliaBackend",
        results_class="backend.PicselliaAnnotationResults",
        endpoint_hint="the host, like https://app.picsellia.com",
        default_url="https://app.picsellia.com",
        extra_key_envs=("FIFTYONE_PICSELLIA_API_KEY", "PICSELLIA_TOKEN"),
        extra_url_envs=("FIFTYONE_PICSELLIA_URL",),
        check_server="fo_annotation_backends.picsellia.backend:check_server",
        app_inputs=(
            AppInput(
                name="organization",
                label="Organization",
                description="The organization's name or id (default: the token's default organization)",
            ),
            AppInput(
                name="dataset_name",
                label="Dataset",
                description="The Picsellia dataset to add a version to (found or created)",
            ),
            AppInput(
                name="label_selection",
                label="Annotations to load",
                description="Which annotation of an asset is loaded",
                kind="choice",
                choices="fo_annotation_backends.picsellia.backend:LABEL_SELECTIONS",
                choice_descriptions=MappingProxyType(
                    {"accepted": "the newest ACCEPTED annotation", "latest": "the newest annotation not skipped"}
                ),
                default="accepted",
            ),
        ),
        local_server="fo_annotation_backends.testing.picsellia:PicselliaEmulator",
        demo_annotator="fo_annotation_backends.testing.picsellia_annotator:demo_edits",
        human="fo_annotation_backends.testing.humans.picsellia:PicselliaHuman",
        test_server="picsellia_emulator",
        demo_parameters=MappingProxyType({"dataset_name": "FiftyOne demo", "label_selection": "accepted"}),
        bench="bench_picsellia",
        tool_envs=(
            ToolEnv(
                venv="picsellia-sdk-venv",
                requirement="picsellia==6.37.0",
                marker="lib/python3*/site-packages/picsellia-6.37.0.dist-info",
                purpose="the official Picsellia SDK, which tests drive against the Picsellia emulator",
            ),
        ),
    ),
)

_BY_NAME = {service.name: service for service in SERVICES}


def names() -> list[str]:
    """The services' names, in registry order."""
    return [service.name for service in SERVICES]


def get(name: str) -> Service:
    """The service registered as ``name``.

    Raises:
        KeyError: no such service (the message lists the known ones)
    """
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError("unknown service %r (known: %s)" % (name, ", ".join(_BY_NAME))) from None


def titles(services: Iterator[Service] | tuple[Service, ...] = SERVICES, conjunction: str = "and") -> str:
    """``"Label Studio, Kili and FastLabel"``."""
    words = [service.title for service in services]
    if len(words) < 2:
        return "".join(words)
    return "%s %s %s" % (", ".join(words[:-1]), conjunction, words[-1])


def service_of_config_cls(config_cls: object) -> Service | None:
    """The service whose subpackage defines ``config_cls`` (a class or a
    dotted path), else None."""
    if config_cls is None:
        return None
    if not isinstance(config_cls, str):
        config_cls = "%s.%s" % (getattr(config_cls, "__module__", ""), getattr(config_cls, "__name__", ""))
    parts = config_cls.split(".")
    if len(parts) < 3 or parts[0] != PACKAGE:
        return None
    return _BY_NAME.get(parts[1])


def main(argv: list[str] | None = None) -> int:
    """``--names``: the services' names, one a line; ``--tool-envs``: one line
    per tool venv, ``venv<TAB>requirement<TAB>marker`` (read by ``./run``)."""
    import argparse

    parser = argparse.ArgumentParser(description="What the registry declares, for scripts")
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--names", action="store_true")
    action.add_argument("--tool-envs", action="store_true")
    args = parser.parse_args(argv)
    if args.names:
        print("\n".join(names()))
    else:
        for service in SERVICES:
            for env in service.tool_envs:
                print("%s\t%s\t%s" % (env.venv, env.requirement, env.marker))
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
