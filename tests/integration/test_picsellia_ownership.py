"""Picsellia runs never touch what they do not own: recorded ownership and
cleanup, the failure policy (roll back or resume with the same call, a
killed process included), a deleted version. Against the emulator; our HTTP
code is never mocked."""

import json
import os
import signal
import subprocess
import sys
import time
import uuid

import fiftyone as fo
import pytest
from dataset_helpers import add_images, dets

from fo_annotation_backends.core.errors import AnnotationBackendError, ParameterError, ProjectDeletedError
from fo_annotation_backends.picsellia import PicselliaBackend, PicselliaBackendConfig, UploadInterruptedError
from fo_annotation_backends.picsellia.upload import version_description

pytestmark = pytest.mark.integration

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMA = {"ground_truth": {"type": "detections", "classes": ["cat", "dog"]}}


def _boxes(i):
    return dets(("cat", [0.1, 0.1, 0.2, 0.2]), ("dog", [0.05 * (i % 10), 0.5, 0.25, 0.25]))


def _state(dataset):
    return {
        s.id: sorted((d.id, d.label, tuple(round(v, 9) for v in d.bounding_box)) for d in s.ground_truth.detections)
        for s in dataset.select_fields("ground_truth")
    }


def _assets(emulator, version_id):
    with emulator.state.lock:
        return set(emulator.state.versions[version_id]["_assets"])


def _annotations_per_asset(emulator, version_id):
    state = emulator.state
    with state.lock:
        return sorted(
            sum(1 for a in state.annotations.values() if a["asset_id"] == asset)
            for asset in state.versions[version_id]["_assets"]
        )


def _ops(emulator):
    return emulator.stats()["operations"]


@pytest.fixture
def other_dataset(picsellia_backend):
    """A second dataset, its runs cleaned up while the emulator runs."""
    dataset = fo.Dataset("picsellia-other-%s" % uuid.uuid4().hex[:10])
    yield dataset
    for anno_key in dataset.list_annotation_runs():
        try:
            dataset.load_annotation_results(anno_key).cleanup()
        except Exception:
            pass
    dataset.delete()


# --------------------------------------------------------------------------
# ownership and cleanup


def test_cleanup_in_a_reused_version_removes_only_the_runs_assets(
    picsellia_dataset, other_dataset, picsellia_backend, picsellia_emulator, tmp_path
):
    (tmp_path / "b").mkdir()
    add_images(picsellia_dataset, str(tmp_path), 2, ground_truth=_boxes)
    add_images(other_dataset, str(tmp_path / "b"), 3, ground_truth=_boxes)
    first = picsellia_dataset.annotate("a", backend=picsellia_backend, label_schema=SCHEMA)
    second = other_dataset.annotate(
        "b", backend=picsellia_backend, label_schema=SCHEMA, dataset_version_id=first.version_id
    )
    assert first.version_created and first.dataset_created
    assert not second.version_created and not second.dataset_created
    assert _assets(picsellia_emulator, first.version_id) == set(first.asset_ids.values()) | set(
        second.asset_ids.values()
    )
    first_data = set(first.data_ids.values())

    second.cleanup()
    state = picsellia_emulator.state
    assert first.version_id in state.versions  # not created by the second run
    assert _assets(picsellia_emulator, first.version_id) == set(first.asset_ids.values())
    assert set(state.datas) == first_data  # the second run's data deleted, the first run's untouched
    assert first.dataset_id in state.datasets
    assert _annotations_per_asset(picsellia_emulator, first.version_id) == [1, 1]

    first.cleanup()
    assert first.version_id not in state.versions
    assert not any(a["version_id"] == first.version_id for a in state.annotations.values())
    assert not state.datas and not state.assets and not state.datasets  # its data and the dataset it created
    first.cleanup()  # a version already gone: a no-op
    with pytest.raises(ProjectDeletedError, match="no longer exists"):
        picsellia_dataset.load_annotations("a")


def test_cleanup_leaves_other_versions_of_the_dataset_alone(
    picsellia_dataset, picsellia_backend, picsellia_emulator, tmp_path
):
    add_images(picsellia_dataset, str(tmp_path), 2, ground_truth=_boxes)
    first = picsellia_dataset.annotate("one", backend=picsellia_backend, label_schema=SCHEMA, dataset_name="Shared")
    second = picsellia_dataset.annotate("two", backend=picsellia_backend, label_schema=SCHEMA, dataset_name="Shared")
    assert first.dataset_id == second.dataset_id and first.version_id != second.version_id
    assert first.dataset_created and not second.dataset_created
    state = picsellia_emulator.state
    second_assets = _assets(picsellia_emulator, second.version_id)

    first.cleanup()
    assert first.version_id not in state.versions
    assert _assets(picsellia_emulator, second.version_id) == second_assets
    assert set(state.datas) == set(second.data_ids.values())  # the first run's data deleted
    assert list(state.datasets) == [first.dataset_id]  # created by the first run, but it holds another version

    second.cleanup()
    assert not state.versions and not state.datas
    assert list(state.datasets) == [first.dataset_id]  # not the second run's to delete


# --------------------------------------------------------------------------
# the failure policy


#: where an upload fails before any asset exists: the labels (no data yet), the third data create, the
#: add-data call (every data made)
EARLY_FAILURES = {
    "labels": {"server_error": 1.0, "fault_operations": ["XGET V/bulk-labels"]},
    "third data": {"fail_after": 2, "fault_operations": ["POST datalake/{id}/datas"]},
    "add data": {"server_error": 1.0, "fault_operations": ["POST V/assets"]},
}


@pytest.mark.parametrize("failure", sorted(EARLY_FAILURES))
def test_a_failure_before_any_asset_rolls_back_the_new_version_and_frees_the_key(
    failure, picsellia_dataset, picsellia_backend, picsellia_emulator, tmp_path
):
    add_images(picsellia_dataset, str(tmp_path), 3, ground_truth=_boxes)
    picsellia_emulator.set_faults(**EARLY_FAILURES[failure])
    with pytest.raises(AnnotationBackendError):
        picsellia_dataset.annotate("k", backend=picsellia_backend, label_schema=SCHEMA, max_retries=0, upload_workers=1)
    picsellia_emulator.set_faults(fail_after=None)
    picsellia_emulator.reset_faults()
    state = picsellia_emulator.state
    ops = _ops(picsellia_emulator)
    assert ops["POST dataset/{id}/versions"] == 1 and ops["DELETE V"] == 1 and ops["DELETE dataset/{id}"] == 1
    made_data = failure != "labels"
    assert bool(ops.get("POST datalake/{id}/datas")) == made_data
    assert ops.get("DELETE datalake/{id}/datas", 0) == made_data
    # the version, the dataset and every data this call created are gone
    assert not state.versions and not state.assets and not state.annotations
    assert not state.datasets and not state.datas
    assert "k" not in picsellia_dataset.list_annotation_runs()

    picsellia_emulator.reset_stats()
    results = picsellia_dataset.annotate("k", backend=picsellia_backend, label_schema=SCHEMA)
    assert results.version_created and len(state.versions) == 1 and len(results.asset_ids) == 3


def test_a_failure_before_any_asset_in_a_reused_version_leaves_the_version_as_it_was(
    picsellia_dataset, other_dataset, picsellia_backend, picsellia_emulator, tmp_path
):
    (tmp_path / "b").mkdir()
    add_images(picsellia_dataset, str(tmp_path), 2, ground_truth=_boxes)
    add_images(other_dataset, str(tmp_path / "b"), 2, ground_truth=_boxes)
    first = picsellia_dataset.annotate("a", backend=picsellia_backend, label_schema=SCHEMA)
    assets_before = _assets(picsellia_emulator, first.version_id)
    labels_before = dict(picsellia_emulator.state.versions[first.version_id]["_labels"])
    picsellia_emulator.reset_stats()
    picsellia_emulator.set_faults(server_error=1.0, fault_operations=["POST V/assets"])
    with pytest.raises(AnnotationBackendError, match="503"):
        other_dataset.annotate(
            "b", backend=picsellia_backend, label_schema=SCHEMA, dataset_version_id=first.version_id, max_retries=0
        )
    picsellia_emulator.reset_faults()
    state = picsellia_emulator.state
    assert first.version_id in state.versions and _ops(picsellia_emulator).get("DELETE V", 0) == 0
    assert _assets(picsellia_emulator, first.version_id) == assets_before
    assert state.versions[first.version_id]["_labels"] == labels_before
    assert set(first.data_ids.values()) <= set(state.datas)
    assert "b" not in other_dataset.list_annotation_runs()
    picsellia_dataset.load_annotations("a")  # the first run still loads


def test_a_failure_after_assets_exist_is_resumed_by_the_same_call_without_duplicates(
    picsellia_dataset, picsellia_backend, picsellia_emulator, tmp_path
):
    add_images(picsellia_dataset, str(tmp_path), 6, ground_truth=_boxes)
    before = _state(picsellia_dataset)
    picsellia_emulator.set_faults(server_error=1.0, fault_operations=["POST V/bulk-annotations"])
    with pytest.raises(UploadInterruptedError) as info:
        picsellia_dataset.annotate("resume", backend=picsellia_backend, label_schema=SCHEMA, max_retries=1)
    error = info.value
    assert (error.uploaded, error.total, error.anno_key) == (6, 6, "resume")
    assert "run the same annotate() call again (run key 'resume')" in str(error)
    assert "resume" in picsellia_dataset.list_annotation_runs()  # registered, unfinished
    with pytest.raises(AnnotationBackendError, match="did not finish"):
        picsellia_dataset.load_annotations("resume")
    assert _state(picsellia_dataset) == before
    state = picsellia_emulator.state
    (version_id,) = state.versions
    assert len(state.datas) == 6 and len(state.assets) == 6 and not state.annotations

    picsellia_emulator.reset_faults()
    picsellia_emulator.reset_stats()
    results = picsellia_dataset.annotate("resume", backend=picsellia_backend, label_schema=SCHEMA)
    assert results.version_id == version_id and results.version_created and results.upload_complete
    ops = _ops(picsellia_emulator)
    for create in ("POST organization/{id}/datasets", "POST dataset/{id}/versions", "POST datalake/{id}/datas"):
        assert ops.get(create, 0) == 0, create
    assert ops.get("POST V/assets", 0) == 0 and ops.get("POST storage", 0) == 0
    assert len(state.datasets) == 1 and len(state.datas) == 6 and len(state.assets) == 6
    assert _annotations_per_asset(picsellia_emulator, version_id) == [1] * 6
    picsellia_dataset.load_annotations("resume")  # nobody worked: nothing changes
    assert _state(picsellia_dataset) == before


def test_a_reused_version_whose_attribute_definitions_clash_is_refused_before_anything_is_created(
    picsellia_dataset, other_dataset, picsellia_backend, picsellia_annotator, picsellia_emulator, tmp_path
):
    (tmp_path / "b").mkdir()
    add_images(picsellia_dataset, str(tmp_path), 1, ground_truth=_boxes)
    add_images(other_dataset, str(tmp_path / "b"), 1, ground_truth=_boxes)
    first = picsellia_dataset.annotate("a", backend=picsellia_backend, label_schema=SCHEMA)
    # someone defined "color" as a number on the version
    picsellia_annotator.set_attributes(first.version_id, {"color": {"required": False, "input_type": "INTEGER"}})
    before = picsellia_annotator.attributes(first.version_id)
    state = picsellia_emulator.state
    counts = (len(state.datasets), len(state.versions), len(state.datas), len(state.assets))
    picsellia_emulator.reset_stats()
    schema = {
        "ground_truth": dict(
            SCHEMA["ground_truth"], attributes={"color": {"type": "select", "values": ["red", "blue"]}}
        )
    }
    with pytest.raises(ParameterError, match="already defines attribute 'color'.*nothing was uploaded"):
        other_dataset.annotate("b", backend=picsellia_backend, label_schema=schema, dataset_version_id=first.version_id)
    assert not [op for op in _ops(picsellia_emulator) if not op.startswith(("GET", "XGET"))]
    assert (len(state.datasets), len(state.versions), len(state.datas), len(state.assets)) == counts
    assert picsellia_annotator.attributes(first.version_id) == before
    assert "b" not in other_dataset.list_annotation_runs()


def test_a_failed_upload_into_a_reused_version_restores_its_attribute_definitions(
    picsellia_dataset, other_dataset, picsellia_backend, picsellia_annotator, picsellia_emulator, tmp_path
):
    (tmp_path / "b").mkdir()
    add_images(picsellia_dataset, str(tmp_path), 1, ground_truth=_boxes)
    add_images(other_dataset, str(tmp_path / "b"), 2, ground_truth=_boxes)
    first = picsellia_dataset.annotate("a", backend=picsellia_backend, label_schema=SCHEMA)
    picsellia_annotator.set_attributes(first.version_id, {"size": {"required": False, "input_type": "INTEGER"}})
    before = picsellia_annotator.attributes(first.version_id)
    state = picsellia_emulator.state
    first_data = set(state.datas)
    schema = {
        "ground_truth": dict(
            SCHEMA["ground_truth"], attributes={"color": {"type": "select", "values": ["red", "blue"]}}
        )
    }
    picsellia_emulator.reset_stats()
    picsellia_emulator.set_faults(server_error=1.0, fault_operations=["POST V/assets"])
    with pytest.raises(AnnotationBackendError, match="503"):
        other_dataset.annotate(
            "b", backend=picsellia_backend, label_schema=schema, dataset_version_id=first.version_id, max_retries=0
        )
    picsellia_emulator.reset_faults()
    assert _ops(picsellia_emulator)["POST V/attributes"] == 2  # "color" added, then the definitions restored
    assert picsellia_annotator.attributes(first.version_id) == before
    assert set(state.datas) == first_data  # the failed run's data deleted
    assert first.version_id in state.versions and "b" not in other_dataset.list_annotation_runs()

    # with no definitions before, none after
    picsellia_annotator.set_attributes(first.version_id, None)
    picsellia_emulator.set_faults(server_error=1.0, fault_operations=["POST V/assets"])
    with pytest.raises(AnnotationBackendError, match="503"):
        other_dataset.annotate(
            "c", backend=picsellia_backend, label_schema=schema, dataset_version_id=first.version_id, max_retries=0
        )
    picsellia_emulator.reset_faults()
    assert picsellia_annotator.attributes(first.version_id) is None


@pytest.mark.parametrize("record", ["kept", "lost"])
def test_a_killed_upload_is_recovered_by_the_same_call(
    record, picsellia_dataset, picsellia_backend, picsellia_emulator, tmp_path
):
    """``lost``: as if the process died before it recorded anything: the
    version is found again by its description (the run id), the data by
    their names (the run mark)."""
    dataset = picsellia_dataset
    add_images(dataset, str(tmp_path), 8, ground_truth=_boxes)
    dataset.persistent = True  # seen by the other process
    before = _state(dataset)
    options = {"upload_workers": 1}
    picsellia_emulator.set_faults(slow=1.0, slow_seconds=0.3, fault_operations=["POST datalake/{id}/datas"])
    env = dict(os.environ, FIFTYONE_PICSELLIA_API_KEY=picsellia_emulator.api_key)
    command = [
        sys.executable,
        os.path.join(HERE, "picsellia_annotate_script.py"),
        dataset.name,
        "k",
        picsellia_emulator.url,
        json.dumps(SCHEMA),
        json.dumps(options),
    ]
    state = picsellia_emulator.state
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while len(state.datas) < 3:
            assert process.poll() is None, process.stderr.read().decode()[-2000:]
            assert time.time() < deadline, "the upload did not start"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
        process.stderr.close()
    time.sleep(0.5)  # a create in flight when the process died lands now
    picsellia_emulator.reset_faults()
    (version_id,) = state.versions
    uploaded = len(state.datas)
    assert 3 <= uploaded < 8 and not state.assets

    dataset.reload()
    if record == "kept":
        with pytest.raises(AnnotationBackendError, match="did not finish"):
            dataset.load_annotations("k")
    else:
        PicselliaBackend.save_run_results(dataset, "k", None, cache=False)
    picsellia_emulator.reset_stats()
    results = dataset.annotate("k", backend=picsellia_backend, label_schema=SCHEMA, **options)
    assert results.version_id == version_id and results.version_created
    ops = _ops(picsellia_emulator)
    assert ops.get("POST datalake/{id}/datas", 0) == 8 - uploaded
    assert ops.get("POST dataset/{id}/versions", 0) == 0 and ops.get("POST organization/{id}/datasets", 0) == 0
    names = [d["filename"] for d in state.datas.values()]
    assert len(names) == 8 and len(set(names)) == 8
    assert len(state.assets) == 8 and _annotations_per_asset(picsellia_emulator, version_id) == [1] * 8
    dataset.load_annotations("k")
    assert _state(dataset) == before
    results.cleanup()
    assert not state.versions


def test_an_attempt_killed_before_it_recorded_its_version_is_found_by_its_description(
    picsellia_dataset, picsellia_backend, picsellia_emulator, tmp_path
):
    add_images(picsellia_dataset, str(tmp_path), 2, ground_truth=_boxes)
    # what the killed attempt left: the run registered (with its run id), and
    # a dataset and a version carrying that id, nothing recorded with the run
    config = PicselliaBackendConfig(
        picsellia_backend, SCHEMA, url=picsellia_emulator.url, api_key=picsellia_emulator.api_key
    )
    config.build().register_run(picsellia_dataset, "early", overwrite=False)
    client = config.build().connect_to_api()
    dataset = client.create_dataset("FiftyOne %s" % picsellia_dataset.name)
    version = client.create_version(
        dataset["id"],
        "early-%s" % str(config.run_id)[:12],
        "OBJECT_DETECTION",
        version_description("early", config.run_id),
    )
    client.close()
    picsellia_emulator.reset_stats()

    results = picsellia_dataset.annotate("early", backend=picsellia_backend, label_schema=SCHEMA)
    state = picsellia_emulator.state
    assert list(state.versions) == [version["id"]] and results.version_id == version["id"]
    assert results.version_created  # marked as this run's: its cleanup deletes it
    assert _ops(picsellia_emulator).get("POST dataset/{id}/versions", 0) == 0
    assert len(_assets(picsellia_emulator, version["id"])) == 2
    results.cleanup()
    assert not state.versions


def test_a_version_of_another_run_is_not_taken_for_this_runs(
    picsellia_dataset, picsellia_backend, picsellia_emulator, tmp_path
):
    add_images(picsellia_dataset, str(tmp_path), 1, ground_truth=_boxes)
    config = PicselliaBackendConfig(
        picsellia_backend, SCHEMA, url=picsellia_emulator.url, api_key=picsellia_emulator.api_key
    )
    config.build().register_run(picsellia_dataset, "early", overwrite=False)
    client = config.build().connect_to_api()
    dataset = client.create_dataset("FiftyOne %s" % picsellia_dataset.name)
    # the same name, but another run's description: not ours
    client.create_version(dataset["id"], "early-%s" % str(config.run_id)[:12], "OBJECT_DETECTION", "someone else's")
    client.close()
    with pytest.raises(AnnotationBackendError, match="already has a version named"):
        picsellia_dataset.annotate("early", backend=picsellia_backend, label_schema=SCHEMA)
    assert len(picsellia_emulator.state.versions) == 1 and not picsellia_emulator.state.datas
