"""Fixtures of the conformance suite: every test that takes ``service`` runs
once per backend (Label Studio on a real server, Kili and FastLabel on their
emulators), with the backend registered under its name and a dataset whose
runs are cleaned up while the service still runs.

The Label Studio server is package-scoped: one for these tests, stopped when
they are done (the integration tier starts its own on the same data dir)."""

import dataclasses
import os
import uuid

import fiftyone as fo
import pytest

from fo_annotation_backends.testing.labelstudio_server import LabelStudioServer, cache_dir
from fo_annotation_backends.testing.registration import registered_backend

from .drivers import make_human

BACKENDS = ("labelstudio", "kili", "fastlabel")

CONFIG_CLASSES = {
    "labelstudio": "fo_annotation_backends.labelstudio.LabelStudioBackendConfig",
    "kili": "fo_annotation_backends.kili.KiliBackendConfig",
    "fastlabel": "fo_annotation_backends.fastlabel.FastLabelBackendConfig",
}


@pytest.fixture(scope="package")
def ls_server():
    """A real Label Studio server for the conformance tests."""
    root = os.path.join(cache_dir(), "labelstudio-test-root")
    os.makedirs(root, exist_ok=True)
    server = LabelStudioServer(data_dir=os.path.join(cache_dir(), "labelstudio-test-data"), document_root=root)
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
        """The person working on ``results``' run in this service."""
        return make_human(self, results)


@pytest.fixture(params=BACKENDS)
def service(request):
    """Each backend in turn, registered under its own name."""
    name = request.param
    if name == "labelstudio":
        server = request.getfixturevalue("ls_server")
        url, api_key = server.url, server.legacy_token
    elif name == "kili":
        emulator = request.getfixturevalue("kili_emulator")
        url, api_key = emulator.url, emulator.api_key
    else:
        emulator = request.getfixturevalue("fastlabel_emulator")
        url, api_key = emulator.url, emulator.api_key
    entry = {"config_cls": CONFIG_CLASSES[name], "url": url, "api_key": api_key}
    with registered_backend(name, entry):
        yield Service(name, url, api_key)


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
