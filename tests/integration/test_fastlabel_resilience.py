"""FastLabel runs that meet bad media, refusals, faults, a call budget and
interruptions: clear errors before anything is uploaded, resumable uploads,
and runs that complete with nothing lost or duplicated."""

import json
import os

import numpy as np
import pytest
from dataset_helpers import add_images, dets
from PIL import Image

from fo_annotation_backends.core.errors import AnnotationBackendError, AuthenticationError, MediaError
from fo_annotation_backends.fastlabel import UploadInterruptedError

pytestmark = pytest.mark.integration

SCHEMA = {"ground_truth": {"type": "detections", "classes": ["cat", "dog"]}}


def _boxes(i):
    return dets(("cat", [0.1, 0.1, 0.2, 0.2]), ("dog", [0.05 * (i % 10), 0.5, 0.25, 0.25]))


def _label_state(dataset):
    return {
        s.id: sorted((d.id, d.label, tuple(round(v, 9) for v in d.bounding_box)) for d in s.ground_truth.detections)
        for s in dataset
    }


def _projects(client):
    return client.call("GET", "projects", params={"limit": 1000})


def _tasks(client, slug):
    return list(client.iter_pages("tasks/image", {"project": slug}))


def test_refused_formats_and_sizes_are_named_before_anything_is_sent(
    fastlabel_dataset, fastlabel_backend, fastlabel_emulator, tmp_path
):
    add_images(fastlabel_dataset, str(tmp_path), 2, ground_truth=_boxes)
    bmp = tmp_path / "odd.bmp"
    Image.fromarray(np.zeros((20, 30, 3), dtype=np.uint8)).save(bmp)
    big = tmp_path / "big.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (2700, 2700, 3), dtype=np.uint8)).save(
        big, compress_level=0
    )
    assert os.path.getsize(big) > 20 * 1024 * 1024
    fastlabel_dataset.add_samples([fastlabel_dataset.first().copy(), fastlabel_dataset.first().copy()])
    for sample, path in zip(fastlabel_dataset.skip(2), (bmp, big)):
        sample.filepath = str(path)
        sample.save()

    with pytest.raises(MediaError) as info:
        fastlabel_dataset.annotate("media", backend=fastlabel_backend, label_schema=SCHEMA)
    message = str(info.value)
    assert "odd.bmp" in message and "convert_to_png=True" in message
    assert "big.png" in message and "20 MiB" in message
    assert fastlabel_emulator.stats()["requests"] == 0
    assert "media" not in fastlabel_dataset.list_annotation_runs()

    # asked to, the BMP goes up as a lossless PNG
    view = fastlabel_dataset.limit(3)
    results = view.annotate("png", backend=fastlabel_backend, label_schema=SCHEMA, convert_to_png=True)
    client = results.backend.connect_to_api()
    names = sorted(t["name"] for t in _tasks(client, results.project_slug))
    assert len(names) == 3 and sum(n.endswith(".png") for n in names) == 3  # the generated PNGs and the BMP


def test_remote_media_is_refused_before_upload(fastlabel_dataset, fastlabel_backend, fastlabel_emulator, tmp_path):
    add_images(fastlabel_dataset, str(tmp_path), 1, ground_truth=_boxes)
    sample = fastlabel_dataset.first()
    sample.filepath = "https://example.com/image.jpg"
    sample.save()
    with pytest.raises(MediaError, match="remote media"):
        fastlabel_dataset.annotate("remote", backend=fastlabel_backend, label_schema=SCHEMA)
    assert fastlabel_emulator.stats()["requests"] == 0


def test_a_wrong_token_fails_before_any_project(fastlabel_dataset, fastlabel_backend, fastlabel_emulator, tmp_path):
    add_images(fastlabel_dataset, str(tmp_path), 2, ground_truth=_boxes)
    wrong = "wrong-token-0123456789abcdef"
    with pytest.raises(AuthenticationError) as info:
        fastlabel_dataset.annotate("auth", backend=fastlabel_backend, label_schema=SCHEMA, api_key=wrong)
    assert wrong not in str(info.value) and "FIFTYONE_FASTLABEL_API_KEY" in str(info.value)
    assert not fastlabel_emulator.state.projects
    assert "auth" not in fastlabel_dataset.list_annotation_runs()


def test_the_token_never_reaches_the_database(fastlabel_dataset, fastlabel_backend, fastlabel_emulator, tmp_path):
    add_images(fastlabel_dataset, str(tmp_path), 2, ground_truth=_boxes)
    results = fastlabel_dataset.annotate("secret", backend=fastlabel_backend, label_schema=SCHEMA)
    key = fastlabel_emulator.api_key
    assert key not in json.dumps(fastlabel_dataset.get_annotation_info("secret").serialize(), default=str)
    assert key not in json.dumps(results.serialize(), default=str)
    assert fastlabel_dataset.load_annotation_results("secret").get_status()["total"] == 2


@pytest.mark.parametrize("resume_with", [{}, {"project": "<slug>"}], ids=["same call", "project slug"])
def test_an_interrupted_upload_resumes_without_duplicates(
    resume_with, fastlabel_dataset, fastlabel_backend, fastlabel_emulator, tmp_path
):
    add_images(fastlabel_dataset, str(tmp_path), 12, ground_truth=_boxes)
    before = _label_state(fastlabel_dataset)
    fastlabel_emulator.set_faults(fail_after=5, fault_operations=["POST tasks/image"])
    with pytest.raises(UploadInterruptedError) as info:
        fastlabel_dataset.annotate("resume", backend=fastlabel_backend, label_schema=SCHEMA, max_retries=2)
    error = info.value
    assert 5 <= error.uploaded < 12 and error.total == 12
    assert "run the same annotate() call again" in str(error)
    assert "resume" in fastlabel_dataset.list_annotation_runs()  # registered, unfinished
    with pytest.raises(AnnotationBackendError, match="did not finish"):
        fastlabel_dataset.load_annotations("resume")
    assert _label_state(fastlabel_dataset) == before

    fastlabel_emulator.set_faults(fail_after=None, fault_operations=None)
    fastlabel_emulator.reset_stats()
    options = {k: error.project for k in resume_with}
    results = fastlabel_dataset.annotate("resume", backend=fastlabel_backend, label_schema=SCHEMA, **options)
    assert results.project_created and results.project_slug == error.project
    client = results.backend.connect_to_api()
    tasks = _tasks(client, error.project)
    assert len(tasks) == 12 and len({t["name"] for t in tasks}) == 12
    assert fastlabel_emulator.stats()["operations"]["POST tasks/image"] == 12 - error.uploaded
    assert len(fastlabel_emulator.state.projects) == 1

    fastlabel_dataset.load_annotations("resume")  # nobody worked: nothing changes
    assert _label_state(fastlabel_dataset) == before


FAULTS = {
    "rate_limit": {"rate_limit": 0.25, "retry_after": 0},
    "server_error": {"server_error": 0.2},
    "drop": {"drop": 0.2},
    "slow": {"slow": 0.3, "slow_seconds": 0.3},
    "lost_response": {"lost_response": 0.3},
}


@pytest.mark.parametrize("kind", sorted(FAULTS))
def test_a_run_completes_through_faults(
    kind, fastlabel_dataset, fastlabel_backend, fastlabel_emulator, fastlabel_annotator, tmp_path
):
    add_images(fastlabel_dataset, str(tmp_path), 40, ground_truth=_boxes)
    before = _label_state(fastlabel_dataset)
    fastlabel_emulator.set_faults(**FAULTS[kind])
    options = dict(max_retries=8, timeout=5 if kind == "slow" else 300)
    results = fastlabel_dataset.annotate("faults", backend=fastlabel_backend, label_schema=SCHEMA, **options)
    injected = fastlabel_emulator.stats()["faults"]
    fastlabel_emulator.reset_faults()
    assert injected[kind] > 0

    client = results.backend.connect_to_api()
    tasks = _tasks(client, results.project_slug)
    assert len(tasks) == 40 and len({t["name"] for t in tasks}) == 40
    assert sum(len(t["annotations"]) for t in tasks) == 80
    assert len(_projects(client)) == 1

    # a person deletes one box; the load runs through the faults too
    sample = fastlabel_dataset.first()
    task = fastlabel_annotator.task(results.task_ids[sample.id])
    fastlabel_annotator.submit(task["id"], task["annotations"][:1])
    fastlabel_emulator.set_faults(**FAULTS[kind])
    fastlabel_dataset.load_annotations("faults")
    fastlabel_emulator.reset_faults()
    expected = dict(before)
    kept = results.annotation_ids[task["annotations"][0]["id"]]
    expected[sample.id] = [entry for entry in before[sample.id] if entry[0] == kept]
    assert _label_state(fastlabel_dataset) == expected


def test_the_budget_is_never_exceeded_and_nearly_used(
    fastlabel_dataset, fastlabel_backend, fastlabel_emulator, tmp_path
):
    add_images(fastlabel_dataset, str(tmp_path), 60, ground_truth=_boxes)
    fastlabel_emulator.set_faults(max_calls=20, window_seconds=1.0, enforce_limit=True)
    fastlabel_emulator.reset_stats()
    fastlabel_dataset.annotate(
        "paced", backend=fastlabel_backend, label_schema=SCHEMA, max_calls=20, window_seconds=1.0
    )
    stats = fastlabel_emulator.stats()
    assert stats["over_limit"] == 0 and stats["statuses"].get("429", 0) == 0
    assert stats["peak_calls_in_window"] == 20  # the budget is used, not left idle


def test_a_server_that_answers_429_is_waited_for(fastlabel_dataset, fastlabel_backend, fastlabel_emulator, tmp_path):
    add_images(fastlabel_dataset, str(tmp_path), 15, ground_truth=_boxes)
    fastlabel_emulator.set_faults(max_calls=5, window_seconds=1.0, enforce_limit=True, retry_after=1)
    results = fastlabel_dataset.annotate("limited", backend=fastlabel_backend, label_schema=SCHEMA, max_calls=None)
    assert fastlabel_emulator.stats()["statuses"].get("429", 0) > 0
    client = results.backend.connect_to_api()
    fastlabel_emulator.set_faults(max_calls=None)
    assert len(_tasks(client, results.project_slug)) == 15


def test_an_unknown_assignee_is_refused_and_a_known_one_gets_the_tasks(
    fastlabel_dataset, fastlabel_backend, fastlabel_emulator, tmp_path
):
    add_images(fastlabel_dataset, str(tmp_path), 2, ground_truth=_boxes)
    with pytest.raises(Exception, match="nobody"):
        fastlabel_dataset.annotate("who", backend=fastlabel_backend, label_schema=SCHEMA, assignee="nobody")
    assert not fastlabel_emulator.state.projects

    fastlabel_emulator.add_user("Alice Doe", "alice@example.com", slug="alice")
    results = fastlabel_dataset.annotate("who", backend=fastlabel_backend, label_schema=SCHEMA, assignee="alice")
    assert results.get_status()["service"]["assignees"] == {"Alice Doe": 2}
