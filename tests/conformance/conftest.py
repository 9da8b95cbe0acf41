"""Fixtures of the conformance suite: every test that takes ``service`` runs
once per service of the registry (Label Studio on a real server, the others
on their emulators: the registry's ``test_server`` fixture), with the backend
registered under its name and a dataset whose runs are cleaned up while the
service still runs.

The Label Studio server is package-scoped: one for these tests, stopped when
they are done (the integration tier starts its own on the same data dir)."""

import dataclasses
import os
import uuid

import fiftyone as fo
import pytest

from fo_annotation_backends import registry
from fo_annotation_backends.testing import cache_dir
from fo_annotation_backends.testing.labelstudio_server import LocalLabelStudio
from fo_annotation_backends.testing.registration import registered_backend

CONFIG_CLASSES = {service.name: service.config_cls for service in registry.SERVICES}


@pytest.fixture(scope="package")
def ls_server():
    """A real Label Studio server for the conformance tests."""
    root = os.path.join(cache_dir(), "labelstudio-test-root")
    os.makedirs(root, exist_ok=True)
    server = LocalLabelStudio(data_dir=os.path.join(cache_dir(), "labelstudio-test-data"), document_root=root)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclasses.dataclass
class Service:
    """One backend registered for a test, and how to reach its service."""

    name: str
    url: str
    api_key: str

    def human(self, results):
        """The person working on ``results``' run in this service (the
        registry's ``human``)."""
        entry = registry.get(self.name)
        return entry.hook(entry.human)(results, self.url, self.api_key)


@pytest.fixture(params=registry.SERVICES, ids=lambda service: service.name)
def service(request):
    """Each service of the registry in turn, registered under its own name."""
    entry = request.param
    server = request.getfixturevalue(entry.test_server)
    with registered_backend(entry.name, {"config_cls": entry.config_cls, "url": server.url, "api_key": server.api_key}):
        yield Service(entry.name, server.url, server.api_key)


@pytest.fixture
def dataset(service):
    """A new dataset; its runs are cleaned up (while the service runs), then
    it is deleted."""
    ds = fo.Dataset("conformance-%s-%s" % (service.name, uuid.uuid4().hex[:10]))
    yield ds
    for key in ds.list_annotation_runs():
        try:
            ds.load_annotation_results(key).cleanup()
        except Exception:
            pass
    ds.delete()


@pytest.fixture
def media(tmp_path):
    """A folder for the generated images."""
    folder = tmp_path / "media"
    folder.mkdir()
    return str(folder)
