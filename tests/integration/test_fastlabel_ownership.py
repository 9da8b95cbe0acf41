"""FastLabel runs never touch what they do not own, and keep FiftyOne's
annotation contract: recorded ownership and cleanup, the failure policy
(roll back or resume with the same call, a killed process included), a
deleted project, bad input refused before anything is created, the
AnnotationAPI and the status shape. Against the emulator; our HTTP code is
never mocked."""

import json
import os
import signal
import subprocess
import sys
import time

import fiftyone as fo
import fiftyone.utils.annotations as foua
import pytest
from dataset_helpers import add_images, dets
from registration import FASTLABEL_CONFIG_CLS, temporary_dataset

from fo_annotation_backends.core.errors import (
    AnnotationBackendError,
    MediaError,
    ParameterError,
    ProjectDeletedError,
    ServiceError,
)
from fo_annotation_backends.core.runs import STATUS_KEYS
from fo_annotation_backends.fastlabel import FastLabelBackend, FastLabelClient, UploadInterruptedError
from fo_annotation_backends.testing.fastlabel import FastLabelEmulator
from fo_annotation_backends.testing.registration import registered_backend

pytestmark = pytest.mark.integration

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMA = {"ground_truth": {"type": "detections", "classes": ["cat", "dog"]}}


def _boxes(i):
    return dets(("cat", [0.1, 0.1, 0.2, 0.2]), ("dog", [0.05 * (i % 10), 0.5, 0.25, 0.25]))


def _label_state(dataset):
    return {
        s.id: sorted((d.id, d.label, tuple(round(v, 9) for v in d.bounding_box)) for d in s.ground_truth.detections)
        for s in dataset
    }


def _project_tasks(emulator, project_id):
    with emulator.state.lock:
        return {t["id"]: t["name"] for t in emulator.state.tasks.values() if t["_project_id"] == project_id}


def _class_values(emulator, project_id):
    with emulator.state.lock:
        return sorted(c["value"] for c in emulator.state.classes.values() if c["_project_id"] == project_id)


@pytest.fixture
def second_dataset(fastlabel_backend):
    yield from temporary_dataset("fastlabel-b")


# --------------------------------------------------------------------------
# ownership


@pytest.mark.parametrize("first", ["A", "B"])
def test_two_datasets_in_one_project_under_one_key_clean_up_their_own(
    first, fastlabel_dataset, second_dataset, fastlabel_backend, fastlabel_emulator, fastlabel_annotator, tmp_path
):
    a, b = fastlabel_dataset, second_dataset
    for dataset, folder in ((a, tmp_path / "a"), (b, tmp_path / "b")):
        folder.mkdir()
        add_images(dataset, str(folder), 2, ground_truth=_boxes)
    ra = a.annotate("k", backend=fastlabel_backend, label_schema=SCHEMA)
    rb = b.annotate("k", backend=fastlabel_backend, label_schema=SCHEMA, project=ra.project_slug)
    assert ra.project_created and not rb.project_created and rb.project_id == ra.project_id
    assert len(_project_tasks(fastlabel_emulator, ra.project_id)) == 4

    # a person works on one of A's tasks: its box is moved
    sample = a.first()
    task = fastlabel_annotator.task(ra.task_ids[sample.id])
    task["annotations"][0]["points"] = [40, 30, 56, 42]
    fastlabel_annotator.submit(task["id"], task["annotations"], status="completed")
    cat_id = sample.ground_truth.detections[0].id

    if first == "B":
        b.load_annotation_results("k").cleanup()
        assert set(_project_tasks(fastlabel_emulator, ra.project_id)) == set(ra.task_ids.values())
        a.load_annotations("k")  # A's tasks and work survived B's cleanup
        moved = next(d for d in a.first().ground_truth.detections if d.id == cat_id)
        assert moved.bounding_box == pytest.approx([0.5, 0.5, 0.2, 0.2])
        a.load_annotation_results("k").cleanup()  # created by A, nothing else left: the project goes
        assert ra.project_id not in fastlabel_emulator.state.projects
    else:
        a.load_annotation_results("k").cleanup()  # B's tasks are in it: only A's tasks go
        assert ra.project_id in fastlabel_emulator.state.projects
        assert set(_project_tasks(fastlabel_emulator, ra.project_id)) == set(rb.task_ids.values())
        b.load_annotation_results("k").cleanup()  # B did not create it: the (empty) project stays
        assert ra.project_id in fastlabel_emulator.state.projects
        assert _project_tasks(fastlabel_emulator, ra.project_id) == {}


# --------------------------------------------------------------------------
# the failure policy


def test_a_failure_before_any_task_deletes_the_new_project_and_frees_the_key(
    fastlabel_dataset, fastlabel_backend, fastlabel_emulator, tmp_path
):
    add_images(fastlabel_dataset, str(tmp_path), 2, ground_truth=_boxes)
    fastlabel_emulator.set_faults(rate_limit=1.0, retry_after=0, fault_operations=["POST annotations"])
    with pytest.raises(ServiceError, match="429"):
        fastlabel_dataset.annotate("k", backend=fastlabel_backend, label_schema=SCHEMA, max_retries=0)
    assert fastlabel_emulator.stats()["operations"]["POST projects"] == 1
    assert not fastlabel_emulator.state.projects and not fastlabel_emulator.state.classes
    assert "k" not in fastlabel_dataset.list_annotation_runs()

    fastlabel_emulator.reset_faults()
    results = fastlabel_dataset.annotate("k", backend=fastlabel_backend, label_schema=SCHEMA)
    assert results.project_created and len(fastlabel_emulator.state.projects) == 1


def test_a_failure_adding_classes_to_a_reused_project_deletes_only_the_classes_it_added(
    fastlabel_dataset, second_dataset, fastlabel_backend, fastlabel_emulator, tmp_path
):
    add_images(fastlabel_dataset, str(tmp_path), 2, ground_truth=_boxes)
    first = fastlabel_dataset.annotate("a", backend=fastlabel_backend, label_schema=SCHEMA)
    before = _class_values(fastlabel_emulator, first.project_id)
    tasks_before = _project_tasks(fastlabel_emulator, first.project_id)

    bigger = {"ground_truth": {"type": "detections", "classes": ["cat", "dog", "bird", "fish"]}}
    fastlabel_emulator.set_faults(fail_after=1, fault_operations=["POST annotations"])  # bird passes, fish fails
    with pytest.raises(AnnotationBackendError):
        fastlabel_dataset.annotate(
            "b", backend=fastlabel_backend, label_schema=bigger, project=first.project_slug, max_retries=0
        )
    fastlabel_emulator.reset_faults()
    assert fastlabel_emulator.stats()["operations"]["POST annotations"] >= 2
    assert _class_values(fastlabel_emulator, first.project_id) == before
    assert _project_tasks(fastlabel_emulator, first.project_id) == tasks_before
    assert fastlabel_dataset.list_annotation_runs() == ["a"]


@pytest.mark.parametrize("record", ["kept", "lost"])
def test_a_killed_upload_is_recovered_by_the_same_call(
    record, fastlabel_dataset, fastlabel_backend, fastlabel_emulator, tmp_path
):
    """``lost``: as if the process died between creating the project and
    recording it: the project is found again by its slug (the run id's mark)."""
    dataset = fastlabel_dataset
    add_images(dataset, str(tmp_path), 8, ground_truth=_boxes)
    dataset.persistent = True  # seen by the other process
    before = _label_state(dataset)
    options = {"upload_workers": 1}
    fastlabel_emulator.set_faults(slow=1.0, slow_seconds=0.3, fault_operations=["POST tasks/image"])
    env = dict(os.environ, FIFTYONE_FASTLABEL_API_KEY=fastlabel_emulator.api_key)
    command = [
        sys.executable,
        os.path.join(HERE, "fastlabel_annotate_script.py"),
        dataset.name,
        "k",
        fastlabel_emulator.url,
        json.dumps(SCHEMA),
        json.dumps(options),
    ]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while len(fastlabel_emulator.state.tasks) < 3:
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
    fastlabel_emulator.reset_faults()
    (project_id,) = fastlabel_emulator.state.projects
    uploaded = len(_project_tasks(fastlabel_emulator, project_id))
    assert 3 <= uploaded < 8

    dataset.reload()
    if record == "kept":
        with pytest.raises(AnnotationBackendError, match="did not finish"):
            dataset.load_annotations("k")
    else:
        FastLabelBackend.save_run_results(dataset, "k", None, cache=False)
    fastlabel_emulator.reset_stats()
    results = dataset.annotate("k", backend=fastlabel_backend, label_schema=SCHEMA, **options)
    assert results.project_id == project_id and results.project_created
    assert fastlabel_emulator.stats()["operations"].get("POST tasks/image", 0) == 8 - uploaded
    assert fastlabel_emulator.stats()["operations"].get("POST projects", 0) == 0
    names = _project_tasks(fastlabel_emulator, project_id).values()
    assert len(names) == 8 and len(set(names)) == 8
    dataset.load_annotations("k")
    assert _label_state(dataset) == before


def test_the_cleanup_of_an_unfinished_run_deletes_its_marked_tasks_only(
    fastlabel_dataset, second_dataset, fastlabel_backend, fastlabel_emulator, tmp_path
):
    (tmp_path / "b").mkdir()
    add_images(fastlabel_dataset, str(tmp_path), 2, ground_truth=_boxes)
    add_images(second_dataset, str(tmp_path / "b"), 6, ground_truth=_boxes)
    other = fastlabel_dataset.annotate("k", backend=fastlabel_backend, label_schema=SCHEMA)
    fastlabel_emulator.set_faults(fail_after=3, fault_operations=["POST tasks/image"])
    with pytest.raises(UploadInterruptedError):
        second_dataset.annotate(
            "k", backend=fastlabel_backend, label_schema=SCHEMA, project=other.project_slug, max_retries=0
        )
    fastlabel_emulator.reset_faults()
    assert len(_project_tasks(fastlabel_emulator, other.project_id)) == 2 + 3

    # as if the record of its tasks was lost: the tasks' names still mark them
    unfinished = second_dataset.load_annotation_results("k")
    assert not unfinished.upload_complete and len(unfinished.task_ids) == 3
    unfinished.task_ids = {}
    FastLabelBackend.save_run_results(second_dataset, "k", unfinished, cache=False)
    second_dataset.load_annotation_results("k", cache=False).cleanup()
    assert set(_project_tasks(fastlabel_emulator, other.project_id)) == set(other.task_ids.values())


# --------------------------------------------------------------------------
# a deleted project


def test_a_load_after_cleanup_says_the_project_is_deleted_and_changes_nothing(
    fastlabel_dataset, fastlabel_backend, fastlabel_emulator, fastlabel_annotator, tmp_path
):
    add_images(fastlabel_dataset, str(tmp_path), 2, ground_truth=_boxes)
    results = fastlabel_dataset.annotate("k", backend=fastlabel_backend, label_schema=SCHEMA)
    for task_id in results.task_ids.values():
        fastlabel_annotator.submit(task_id, [], status="completed")  # every box deleted
    fastlabel_dataset.load_annotations("k", cleanup=True)
    assert not fastlabel_emulator.state.projects
    after_first_load = _label_state(fastlabel_dataset)
    assert all(not boxes for boxes in after_first_load.values())

    with pytest.raises(ProjectDeletedError, match="no longer exists") as info:
        fastlabel_dataset.load_annotations("k")
    assert "delete_annotation_run('k')" in str(info.value)
    assert _label_state(fastlabel_dataset) == after_first_load
    stored = fastlabel_dataset.load_annotation_results("k")
    with pytest.raises(ProjectDeletedError):
        stored.get_status()
    stored.cleanup()
    stored.cleanup()  # a no-op, twice
    assert fastlabel_emulator.stats()["operations"].get("DELETE tasks/{id}", 0) == 0


# --------------------------------------------------------------------------
# bad input, refused before anything is created


def _write_corrupt_image(dataset, tmp_path):
    path = tmp_path / "corrupt.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    sample = dataset.first()
    sample.filepath = str(path)
    sample.save()
    return dataset, {}


def _twice(dataset, tmp_path):
    one = dataset.select(dataset.first().id)
    return one.concat(one), {}


BAD_INPUT = {
    "misspelled parameter": (ParameterError, "did you mean 'project_name'", lambda d, t: (d, {"projcet_name": "x"})),
    "zero workers": (ParameterError, "upload_workers", lambda d, t: (d, {"upload_workers": 0})),
    "negative budget": (ParameterError, "max_calls", lambda d, t: (d, {"max_calls": -5})),
    "zero window": (ParameterError, "window_seconds", lambda d, t: (d, {"window_seconds": 0})),
    "bad status": (ParameterError, "load_statuses", lambda d, t: (d, {"load_statuses": ["finished"]})),
    "corrupt image": (MediaError, "not a decodable image", _write_corrupt_image),
    "a sample twice": (ParameterError, "more than once", _twice),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_is_refused_before_any_request(
    case, fastlabel_dataset, fastlabel_backend, fastlabel_emulator, tmp_path
):
    add_images(fastlabel_dataset, str(tmp_path), 2, ground_truth=_boxes)
    error, message, prepare = BAD_INPUT[case]
    view, options = prepare(fastlabel_dataset, tmp_path)
    with pytest.raises(error, match=message):
        view.annotate("k", backend=fastlabel_backend, label_schema=SCHEMA, **options)
    assert fastlabel_emulator.stats()["requests"] == 0
    assert not fastlabel_emulator.state.projects
    assert "k" not in fastlabel_dataset.list_annotation_runs()


def test_a_wrong_endpoint_names_the_api_base_expected(
    fastlabel_dataset, fastlabel_backend, fastlabel_emulator, tmp_path
):
    add_images(fastlabel_dataset, str(tmp_path), 2, ground_truth=_boxes)
    root = fastlabel_emulator.url[: -len("v1/")]
    with pytest.raises(ParameterError) as info:
        fastlabel_dataset.annotate("k", backend=fastlabel_backend, label_schema=SCHEMA, url=root)
    message = str(info.value)
    assert "is not a FastLabel API base" in message and "ending in /v1/" in message
    assert "did you mean %sv1/" % root in message
    assert not fastlabel_emulator.state.projects
    assert "k" not in fastlabel_dataset.list_annotation_runs()


def test_a_reused_run_key_says_how_to_proceed(fastlabel_dataset, fastlabel_backend, fastlabel_emulator, tmp_path):
    add_images(fastlabel_dataset, str(tmp_path), 2, ground_truth=_boxes)
    fastlabel_dataset.annotate("k", backend=fastlabel_backend, label_schema=SCHEMA)
    fastlabel_emulator.reset_stats()
    with pytest.raises(ParameterError) as info:
        fastlabel_dataset.annotate("k", backend=fastlabel_backend, label_schema=SCHEMA)
    message = str(info.value)
    assert "already has an annotation run 'k'" in message and "Use another run key" in message
    assert "delete_annotation_run('k')" in message
    assert fastlabel_emulator.stats()["requests"] == 0 and len(fastlabel_emulator.state.projects) == 1


# --------------------------------------------------------------------------
# the API, the status, the id map


def test_the_client_is_an_annotation_api_and_the_backend_works_after_a_with_block(
    fastlabel_dataset, fastlabel_backend, tmp_path
):
    add_images(fastlabel_dataset, str(tmp_path), 2, ground_truth=_boxes)
    results = fastlabel_dataset.annotate("k", backend=fastlabel_backend, label_schema=SCHEMA)
    api = results.connect_to_api()
    assert isinstance(api, foua.AnnotationAPI) and isinstance(api, FastLabelClient)
    with results:
        assert results.connect_to_api() is api
        assert results.get_status()["total"] == 2
    assert results.connect_to_api() is not api  # closed by the with block: a new client
    assert results.get_status()["total"] == 2
    standalone = foua.connect_to_api(backend=fastlabel_backend)
    try:
        assert isinstance(standalone, FastLabelClient)
        assert standalone.find_project(results.project_slug)["id"] == results.project_id
    finally:
        standalone.close()


def test_get_status_has_the_common_shape(fastlabel_dataset, fastlabel_backend, fastlabel_annotator, tmp_path, capsys):
    add_images(fastlabel_dataset, str(tmp_path), 4, ground_truth=_boxes)
    results = fastlabel_dataset.annotate("k", backend=fastlabel_backend, label_schema=SCHEMA)
    samples = list(fastlabel_dataset)
    fastlabel_annotator.submit(results.task_ids[samples[0].id], [], status="completed")
    fastlabel_annotator.submit(results.task_ids[samples[1].id], [], status="approved")
    fastlabel_annotator.delete_task(results.task_ids[samples[2].id])
    status = results.get_status()
    assert tuple(status) == STATUS_KEYS
    assert status["project_id"] == results.project_id
    assert (status["total"], status["labeled"], status["reviewed"], status["unlabeled"], status["missing"]) == (
        4,
        2,
        1,
        1,
        1,
    )
    assert status["annotators"] == {}
    service = status["service"]
    assert service["statuses"] == {"completed": 1, "approved": 1, "registered": 1}
    assert service["project_slug"] == results.project_slug and service["loadable"] == 2
    results.print_status()
    printed = capsys.readouterr().out
    assert "labeled:   2" in printed and "reviewed:  1" in printed and "deleted on the server: 1" in printed


def test_annotation_ids_are_matched_by_content_when_the_server_lists_them_in_another_order(tmp_path):
    with FastLabelEmulator(api_key="order-key", annotation_order="reversed") as emulator:
        entry = {"config_cls": FASTLABEL_CONFIG_CLS, "url": emulator.url, "api_key": emulator.api_key}
        with registered_backend("fastlabel", entry):
            dataset = fo.Dataset()
            try:
                add_images(dataset, str(tmp_path), 2, ground_truth=_boxes)
                results = dataset.annotate("k", backend="fastlabel", label_schema=SCHEMA)
                for sample in dataset:
                    task = emulator.state.tasks[results.task_ids[sample.id]]
                    for annotation in task["_annotations"]:
                        label_id = results.annotation_ids[annotation["id"]]
                        label = next(d for d in sample.ground_truth.detections if d.id == label_id)
                        assert emulator.state.classes[annotation["class_id"]]["value"].endswith(label.label)
                results.cleanup()
            finally:
                dataset.delete()
