"""Kili runs that meet bad input, refusals, faults and interruptions:
clear errors before anything is uploaded, resumable uploads, and runs that
complete through every fault kind with nothing lost or duplicated."""

import functools
import http.server
import json
import os
import threading

import pytest
from kili_helpers import add_images, asset_count, dets

from fo_annotation_backends.core.errors import AnnotationBackendError, AuthenticationError
from fo_annotation_backends.kili import UploadInterruptedError

pytestmark = pytest.mark.integration

SCHEMA = {"ground_truth": {"type": "detections", "classes": ["cat", "dog"]}}


def _boxes(i):
    return dets(("cat", [0.1, 0.1, 0.2, 0.2]), ("dog", [0.05 * (i % 10), 0.5, 0.25, 0.25]))


def _count_projects(annotator):
    return annotator.graphql("query { data: countProjects(where: {}) }")["data"]


def _predictions_per_asset(annotator, project_id):
    assets = annotator.graphql(
        "query($w: AssetWhere!) { data: assets(where: $w, first: 500, skip: 0) { id labels { labelType } } }",
        {"w": {"project": {"id": project_id}}},
    )["data"]
    return [sum(1 for label in a["labels"] if label["labelType"] == "PREDICTION") for a in assets]


def _label_state(dataset):
    return {
        s.id: sorted((d.label, tuple(round(v, 9) for v in d.bounding_box)) for d in s.ground_truth.detections)
        for s in dataset
    }


def test_too_many_assets_is_refused_before_anything_is_sent(kili_dataset, kili_backend, kili_emulator, tmp_path):
    add_images(kili_dataset, str(tmp_path), 3, ground_truth=_boxes)
    with pytest.raises(AnnotationBackendError, match="at most 2 assets per project") as info:
        kili_dataset.annotate("big", backend=kili_backend, label_schema=SCHEMA, max_assets_per_project=2)
    assert "Nothing was uploaded" in str(info.value)
    assert kili_emulator.stats()["requests"] == 0
    assert "big" not in kili_dataset.list_annotation_runs()


def test_a_reused_project_near_its_limit_is_refused(
    kili_dataset, kili_backend, kili_emulator, kili_annotator, tmp_path
):
    add_images(kili_dataset, str(tmp_path), 3, ground_truth=_boxes)
    first = kili_dataset.limit(2).annotate("first", backend=kili_backend, label_schema=SCHEMA)
    kili_emulator.reset_stats()
    with pytest.raises(AnnotationBackendError, match="already has 2 assets"):
        kili_dataset.annotate(
            "second", backend=kili_backend, label_schema=SCHEMA, project_id=first.project_id, max_assets_per_project=4
        )
    assert "appendManyAssets" not in kili_emulator.stats()["operations"]
    assert asset_count(kili_annotator, first.project_id) == 2


def test_a_wrong_key_fails_before_any_project_and_is_not_echoed(
    kili_dataset, kili_backend, kili_emulator, kili_annotator, tmp_path
):
    add_images(kili_dataset, str(tmp_path), 2, ground_truth=_boxes)
    wrong = "wrong-key-0123456789abcdef"
    with pytest.raises(AuthenticationError) as info:
        kili_dataset.annotate("auth", backend=kili_backend, label_schema=SCHEMA, api_key=wrong)
    assert wrong not in str(info.value)
    assert "FIFTYONE_KILI_API_KEY" in str(info.value)
    assert _count_projects(kili_annotator) == 0
    assert "auth" not in kili_dataset.list_annotation_runs()


def test_the_key_never_reaches_the_database(kili_dataset, kili_backend, kili_emulator, tmp_path):
    add_images(kili_dataset, str(tmp_path), 2, ground_truth=_boxes)
    results = kili_dataset.annotate("secret", backend=kili_backend, label_schema=SCHEMA)
    key = kili_emulator.api_key
    info = kili_dataset.get_annotation_info("secret")
    assert key not in json.dumps(info.serialize(), default=str)
    assert key not in json.dumps(results.serialize(), default=str)
    assert key not in repr(results.config)
    # reloaded from the database, the key comes back from the annotation config
    reloaded = kili_dataset.load_annotation_results("secret")
    assert reloaded.get_status()["total"] == 2


def test_an_interrupted_upload_resumes_without_duplicates(
    kili_dataset, kili_backend, kili_emulator, kili_annotator, tmp_path
):
    add_images(kili_dataset, str(tmp_path), 130, ground_truth=_boxes)
    before = _label_state(kili_dataset)
    # an outage starts after the first batch of 100 assets
    kili_emulator.set_faults(fail_after=1, fault_operations=["appendManyAssets"])
    with pytest.raises(UploadInterruptedError) as info:
        kili_dataset.annotate("resume", backend=kili_backend, label_schema=SCHEMA)
    error = info.value
    assert (error.uploaded, error.total) == (100, 130)
    assert "run the same annotate() call again" in str(error)
    assert "resume" in kili_dataset.list_annotation_runs()  # registered, unfinished
    assert asset_count(kili_annotator, error.project_id) == 100

    kili_emulator.set_faults(fail_after=None, fault_operations=None)
    kili_emulator.reset_stats()
    results = kili_dataset.annotate("resume", backend=kili_backend, label_schema=SCHEMA)
    assert results.project_id == error.project_id
    assert results.project_created  # the first attempt created it: cleanup deletes it
    assert _count_projects(kili_annotator) == 1
    assert asset_count(kili_annotator, error.project_id) == 130
    assert _predictions_per_asset(kili_annotator, error.project_id) == [1] * 130
    uploaded = kili_emulator.stats()["operations"]
    assert uploaded.get("appendManyAssets") == 1  # only the 30 missing ones

    kili_dataset.load_annotations("resume")
    assert _label_state(kili_dataset) == before


def test_a_crash_between_assets_and_labels_resumes_the_labels(
    kili_dataset, kili_backend, kili_emulator, kili_annotator, tmp_path
):
    add_images(kili_dataset, str(tmp_path), 5, ground_truth=_boxes)
    kili_emulator.set_faults(fail_after=0, fault_operations=["appendManyLabels"])
    with pytest.raises(UploadInterruptedError) as info:
        kili_dataset.annotate("labels", backend=kili_backend, label_schema=SCHEMA)
    project_id = info.value.project_id
    assert _predictions_per_asset(kili_annotator, project_id) == [0] * 5

    kili_emulator.set_faults(fail_after=None, fault_operations=None)
    kili_dataset.annotate("labels", backend=kili_backend, label_schema=SCHEMA, project_id=project_id)
    assert asset_count(kili_annotator, project_id) == 5
    assert _predictions_per_asset(kili_annotator, project_id) == [1] * 5


FAULTS = {
    "rate_limit": {"rate_limit": 0.25, "retry_after": 0},
    "server_error": {"server_error": 0.2},
    "drop": {"drop": 0.2},
    "slow": {"slow": 0.3, "slow_seconds": 0.3},
    "lost_response": {"lost_response": 0.3},
}


@pytest.mark.parametrize("kind", sorted(FAULTS))
def test_a_run_completes_through_faults(kind, kili_dataset, kili_backend, kili_emulator, kili_annotator, tmp_path):
    add_images(kili_dataset, str(tmp_path), 120, ground_truth=_boxes)
    before = _label_state(kili_dataset)
    kili_emulator.set_faults(**FAULTS[kind])
    options = dict(max_retries=8, timeout=5 if kind == "slow" else 300, download_page_size=40)
    results = kili_dataset.annotate("faults", backend=kili_backend, label_schema=SCHEMA, **options)
    injected = kili_emulator.stats()["faults"]
    kili_emulator.reset_faults()

    assert injected[kind] > 0
    assert asset_count(kili_annotator, results.project_id) == 120
    assert _predictions_per_asset(kili_annotator, results.project_id) == [1] * 120
    assert _count_projects(kili_annotator) == 1

    # a person edits one sample; the load itself runs through the faults too
    sample = kili_dataset.first()
    asset_id = results.asset_ids[sample.id]
    response = kili_annotator.prefilled(results.project_id, asset_id)
    job = results.interface_mapping["jobs"]["ground_truth"]
    response[job]["annotations"] = response[job]["annotations"][:1]
    kili_annotator.submit(results.project_id, asset_id, response)
    kili_emulator.set_faults(**FAULTS[kind])
    kili_dataset.load_annotations("faults")
    kili_emulator.reset_faults()

    after = _label_state(kili_dataset)
    expected = dict(before, **{sample.id: before[sample.id][:1]})
    assert after == expected


def test_a_server_budget_is_respected_by_pacing(kili_dataset, kili_backend, kili_emulator, tmp_path):
    add_images(kili_dataset, str(tmp_path), 20, ground_truth=_boxes)
    kili_emulator.set_faults(max_calls=8, window_seconds=1.0, enforce_limit=False)
    kili_emulator.reset_stats()
    kili_dataset.annotate("paced", backend=kili_backend, label_schema=SCHEMA, max_calls=6, window_seconds=1.0)
    stats = kili_emulator.stats()
    assert stats["over_limit"] == 0
    assert stats["peak_calls_in_window"] <= 8


def test_a_server_that_answers_429_is_waited_for(kili_dataset, kili_backend, kili_emulator, kili_annotator, tmp_path):
    add_images(kili_dataset, str(tmp_path), 20, ground_truth=_boxes)
    kili_emulator.set_faults(max_calls=2, window_seconds=1.0, enforce_limit=True, retry_after=1)
    results = kili_dataset.annotate("limited", backend=kili_backend, label_schema=SCHEMA, max_calls=None)
    stats = kili_emulator.stats()
    assert stats["statuses"].get("429", 0) > 0
    assert asset_count(kili_annotator, results.project_id) == 20


@pytest.fixture
def media_server(tmp_path):
    """A static file server on 127.0.0.1 for remote (http) media."""
    folder = tmp_path / "served"
    folder.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield str(folder), "http://127.0.0.1:%d" % server.server_address[1]
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_remote_media_is_sent_by_url(kili_dataset, kili_backend, kili_emulator, kili_annotator, media_server, tmp_path):
    folder, base = media_server
    add_images(kili_dataset, folder, 3, ground_truth=_boxes)
    local_dir = tmp_path / "local"
    local_dir.mkdir()
    add_images(kili_dataset, str(local_dir), 1, ground_truth=_boxes)  # one local file in the same run
    for sample in kili_dataset.iter_samples(autosave=True):
        if sample.filepath.startswith(folder):
            sample.filepath = "%s/%s" % (base, os.path.basename(sample.filepath))
    results = kili_dataset.annotate("remote", backend=kili_backend, label_schema=SCHEMA)
    contents = {}
    for sample in kili_dataset:
        asset = kili_annotator.asset(results.project_id, results.asset_ids[sample.id])
        contents[sample.filepath] = asset
    remote = {p: a for p, a in contents.items() if p.startswith("http")}
    assert len(remote) == 3
    assert all(asset["content"] == path for path, asset in remote.items())
    assert all(asset["resolution"] == {"width": 80, "height": 60} for asset in contents.values())
    assert kili_emulator.stats()["operations"].get("createUploadBucketSignedUrls") == 1  # the local file only
    kili_dataset.load_annotations("remote")
