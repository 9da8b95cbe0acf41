"""The service registry: every entry is complete and importable, and no
module outside a service's own subpackage and ``testing/`` names a service."""

import ast
import os

import pytest

from fo_annotation_backends import registry, registry_docs

PACKAGE_DIR = os.path.dirname(registry.__file__)
ROOT = os.path.dirname(PACKAGE_DIR)


def _docstring_nodes(tree):
    nodes = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = getattr(node, "body", [])
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                nodes.add(id(body[0].value))
    return nodes


def _code_words(path):
    """String constants (docstrings excepted), names and imported modules of
    a module: what its code says, not its prose."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    docstrings = _docstring_nodes(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.lineno, node.value
        elif isinstance(node, ast.Name):
            yield node.lineno, node.id
        elif isinstance(node, ast.Attribute):
            yield node.lineno, node.attr
        elif isinstance(node, ast.ImportFrom):
            yield node.lineno, "%s %s" % (node.module or "", " ".join(a.name for a in node.names))
        elif isinstance(node, ast.Import):
            yield node.lineno, " ".join(a.name for a in node.names)


def _modules_outside_services():
    services = {service.name for service in registry.SERVICES}
    for folder in (PACKAGE_DIR, os.path.join(ROOT, "bench")):
        for dirpath, dirnames, filenames in os.walk(folder):
            relative = os.path.relpath(dirpath, PACKAGE_DIR).split(os.sep)
            if folder == PACKAGE_DIR and relative[0] in services | {"testing"}:
                continue
            # a bench module named after a service is that service's workload
            dirnames[:] = [d for d in dirnames if d not in ("__pycache__", "out") and not _names_a_service(d)]
            for filename in filenames:
                path = os.path.join(dirpath, filename)
                if folder != PACKAGE_DIR and _names_a_service(filename):
                    continue
                if filename.endswith(".py") and path != registry.__file__:
                    yield path


def _names_a_service(filename):
    return any(service.name in filename.lower() for service in registry.SERVICES)


@pytest.mark.parametrize("service", registry.SERVICES, ids=lambda s: s.name)
def test_every_entry_resolves(service):
    assert service.load("config").__module__.startswith(service.package)
    assert service.load("backend").__name__ and service.load("results").__name__
    # the dotted path FiftyOne's annotation config takes imports the class
    assert registry.resolve(service.config_cls.rpartition(".")[0] + ":" + service.config_cls.rpartition(".")[2])
    for reference in (service.check_server, service.local_server, service.demo_annotator):
        assert callable(service.hook(reference)), reference
    from fo_annotation_backends.testing.humans.base import Human

    assert issubclass(service.hook(service.human), Human)
    assert service.test_server
    for option in service.app_inputs:
        if option.kind == "choice":
            assert option.choice_values(), option.name
        if option.required_if:
            assert option.required_if[0] in {o.name for o in service.app_inputs}
    assert os.path.exists(os.path.join(ROOT, "bench", service.bench + ".py")) or os.path.isdir(
        os.path.join(ROOT, "bench", service.bench)
    )
    assert service.key_envs_for(service.name)[0] == "FIFTYONE_%s_API_KEY" % service.name.upper()


def test_names_are_unique_and_lookups_work():
    assert len(set(registry.names())) == len(registry.SERVICES)
    first = registry.SERVICES[0]
    assert registry.get(first.name) is first
    assert registry.service_of_config_cls(first.config_cls) is first
    assert registry.service_of_config_cls(first.load("config")) is first
    assert registry.service_of_config_cls("somebody_else.Config") is None
    with pytest.raises(KeyError, match="known: "):
        registry.get("no-such-service")


def test_only_the_registry_names_a_service_outside_its_subpackage():
    words = set()
    for service in registry.SERVICES:
        words |= {service.name.lower(), service.title.lower()}
    found = []
    for path in _modules_outside_services():
        for lineno, text in _code_words(path):
            lowered = text.lower()
            if any(word in lowered for word in words):
                found.append("%s:%d: %r" % (os.path.relpath(path, ROOT), lineno, text[:80]))
    assert not found, "\n".join(found)


def test_the_generated_parts_of_the_readme_and_the_manifest_are_current():
    assert registry_docs.outdated(ROOT) == [], "run: python -m fo_annotation_backends.registry_docs --write"


def test_the_manifest_lists_every_services_url_and_key_as_secrets():
    import yaml

    with open(os.path.join(ROOT, "fiftyone.yml"), encoding="utf-8") as f:
        manifest = yaml.safe_load(f)
    for service in registry.SERVICES:
        assert service.key_envs_for(service.name)[0] in manifest["secrets"]
        assert service.url_envs_for(service.name)[0] in manifest["secrets"]


def test_tool_envs_lists_every_venv_for_the_run_script(capsys):
    assert registry.main(["--tool-envs"]) == 0
    lines = capsys.readouterr().out.splitlines()
    expected = [env for service in registry.SERVICES for env in service.tool_envs]
    assert [line.split("\t") for line in lines] == [[e.venv, e.requirement, e.marker] for e in expected]


#: FiftyOne internals that only ``core/compat.py`` may touch
PRIVATE_FIFTYONE = {"_root_dataset", "_dataset", "_HasLabelList", "_annotation_cache", "_doc", "_LABEL_LIST_FIELD"}


def test_only_core_compat_touches_fiftyones_private_internals():
    found = []
    for dirpath, dirnames, filenames in os.walk(PACKAGE_DIR):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for filename in filenames:
            path = os.path.join(dirpath, filename)
            if not filename.endswith(".py") or path.endswith(os.path.join("core", "compat.py")):
                continue
            with open(path, encoding="utf-8") as f:
                tree = ast.parse(f.read(), path)
            for node in ast.walk(tree):
                if isinstance(node, ast.Attribute) and node.attr in PRIVATE_FIFTYONE:
                    found.append("%s:%d: .%s" % (os.path.relpath(path, ROOT), node.lineno, node.attr))
    assert not found, "use fo_annotation_backends.core.compat instead:\n" + "\n".join(found)
