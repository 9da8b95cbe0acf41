"""Integration tier: FiftyOne's embedded MongoDB, a real Label Studio server
started once per session (its data directory is reused between runs, so
later runs start in seconds), and the Kili, FastLabel and Picsellia
emulators (one per test, from this package's pytest plugin)."""

import os

import pytest
from registration import CONFIG_CLS, FASTLABEL_CONFIG_CLS, KILI_CONFIG_CLS, PICSELLIA_CONFIG_CLS, temporary_dataset

from fo_annotation_backends.labelstudio import LabelStudioClient
from fo_annotation_backends.testing.fastlabel_annotator import FastLabelAnnotator
from fo_annotation_backends.testing.kili_annotator import KiliAnnotator
from fo_annotation_backends.testing.labelstudio_annotator import LabelStudioAnnotator
from fo_annotation_backends.testing.labelstudio_server import LocalLabelStudio, cache_dir
from fo_annotation_backends.testing.picsellia_annotator import PicselliaAnnotator
from fo_annotation_backends.testing.registration import registered_backend


@pytest.fixture(scope="session")
def document_root():
    """The server's local-files document root."""
    root = os.path.join(cache_dir(), "labelstudio-test-root")
    os.makedirs(root, exist_ok=True)
    return root


@pytest.fixture(scope="session")
def ls_server(document_root):
    server = LocalLabelStudio(
        data_dir=os.path.join(cache_dir(), "labelstudio-test-data"),
        document_root=document_root,
    )
    server.start()
    _delete_all_projects(LabelStudioClient(server.url, server.legacy_token))
    yield server
    server.stop()


def _delete_all_projects(client):
    """The data dir is reused between runs: each session starts from no
    projects, so that listings stay short."""
    while True:
        projects = client.http.get_json("/api/projects", params={"page_size": 100})["results"]
        if not projects:
            return
        for project in projects:
            client.delete_project(project["id"])


@pytest.fixture(scope="session")
def ls_client(ls_server):
    return LabelStudioClient(ls_server.url, ls_server.legacy_token)


@pytest.fixture
def backend(ls_server):
    """Registers our backend as ``labelstudio`` (replacing the built-in)."""
    entry = {"config_cls": CONFIG_CLS, "url": ls_server.url, "api_key": ls_server.legacy_token}
    with registered_backend("labelstudio", entry) as name:
        yield name


@pytest.fixture
def annotator(ls_server):
    return LabelStudioAnnotator(ls_server.url, ls_server.legacy_token)


@pytest.fixture
def dataset():
    yield from temporary_dataset("test")


@pytest.fixture
def media_dir(tmp_path):
    """A media folder outside the server's document root (upload mode)."""
    folder = tmp_path / "media"
    folder.mkdir()
    return str(folder)


@pytest.fixture
def kili_backend(kili_emulator):
    """Registers our Kili backend as ``kili``, pointed at the emulator."""
    entry = {"config_cls": KILI_CONFIG_CLS, "url": kili_emulator.url, "api_key": kili_emulator.api_key}
    with registered_backend("kili", entry) as name:
        yield name


@pytest.fixture
def kili_annotator(kili_emulator):
    return KiliAnnotator(kili_emulator.url, kili_emulator.api_key)


@pytest.fixture
def kili_dataset(kili_backend):
    """A dataset whose runs are cleaned up while the emulator still runs."""
    yield from temporary_dataset("kili")


@pytest.fixture
def fastlabel_backend(fastlabel_emulator):
    """Registers our FastLabel backend as ``fastlabel``, pointed at the emulator."""
    entry = {"config_cls": FASTLABEL_CONFIG_CLS, "url": fastlabel_emulator.url, "api_key": fastlabel_emulator.api_key}
    with registered_backend("fastlabel", entry) as name:
        yield name


@pytest.fixture
def fastlabel_annotator(fastlabel_emulator):
    return FastLabelAnnotator(fastlabel_emulator.url, fastlabel_emulator.api_key)


@pytest.fixture
def fastlabel_dataset(fastlabel_backend):
    """A dataset whose runs are cleaned up while the emulator still runs."""
    yield from temporary_dataset("fastlabel")


@pytest.fixture
def picsellia_backend(picsellia_emulator):
    """Registers our Picsellia backend as ``picsellia``, pointed at the emulator."""
    entry = {"config_cls": PICSELLIA_CONFIG_CLS, "url": picsellia_emulator.url, "api_key": picsellia_emulator.api_key}
    with registered_backend("picsellia", entry) as name:
        yield name


@pytest.fixture
def picsellia_annotator(picsellia_emulator):
    return PicselliaAnnotator(picsellia_emulator.url, picsellia_emulator.api_key)


@pytest.fixture
def picsellia_dataset(picsellia_backend):
    """A dataset whose runs are cleaned up while the emulator still runs."""
    yield from temporary_dataset("picsellia")
