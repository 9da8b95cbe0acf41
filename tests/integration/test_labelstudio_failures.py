"""The failure policy on a real server: a failure before any task exists
leaves nothing; a failure after tasks exist (an error, a killed process)
leaves a run that the same annotate() call resumes, creating nothing twice;
bad input is refused before anything is created."""

import functools
import http.server
import os
import signal
import subprocess
import sys
import textwrap
import threading
import uuid

import pytest
from ls_helpers import add_images, dets, task_of

from fo_annotation_backends.core.errors import (
    AnnotationBackendError,
    MediaError,
    ParameterError,
    ServiceUnavailableError,
    UploadInterruptedError,
)
from fo_annotation_backends.labelstudio import LabelStudioClient

pytestmark = pytest.mark.integration

BOXES = {"gt": {"type": "detections", "classes": ["cat", "dog"]}}


def _boxes(i):
    return dets(("cat", [0.1, 0.1, 0.2, 0.2]))


def _projects(ls_client, title=None):
    projects = ls_client.http.get_json("/api/projects", params={"page_size": 1000})["results"]
    return [p for p in projects if title is None or p["title"] == title]


def _sample_ids_of_tasks(ls_client, project_id):
    return [t["data"]["fo_sample_id"] for t in ls_client.export_tasks(project_id)]


def test_a_failure_halfway_leaves_a_run_that_the_same_call_resumes(
    dataset, media_dir, backend, annotator, ls_client, monkeypatch
):
    add_images(dataset, media_dir, 5, gt=_boxes)
    title = "resume-%s" % uuid.uuid4().hex[:8]
    call = dict(backend=backend, label_schema=BOXES, project_name=title, import_batch_size=2, local_files=False)
    real_import = LabelStudioClient.import_tasks
    imports = []

    def fail_on_the_second_batch(self, *args, **kwargs):
        imports.append(1)
        if len(imports) == 2:  # its files are uploaded, its tasks not created
            raise ServiceUnavailableError("Label Studio went away")
        return real_import(self, *args, **kwargs)

    monkeypatch.setattr(LabelStudioClient, "import_tasks", fail_on_the_second_batch)
    with pytest.raises(UploadInterruptedError) as info:
        dataset.annotate("k", **call)
    message = str(info.value)
    assert "after 2 of 5 tasks" in message and "run the same annotate() call again (run key 'k')" in message
    assert (info.value.uploaded, info.value.total) == (2, 5)
    (project,) = _projects(ls_client, title)
    assert len(_sample_ids_of_tasks(ls_client, project["id"])) == 2
    assert "k" in dataset.list_annotation_runs()
    with pytest.raises(AnnotationBackendError, match="did not finish.*run the same annotate\\(\\) call"):
        dataset.load_annotations("k")

    monkeypatch.undo()
    results = dataset.annotate("k", **call)

    assert [p["id"] for p in _projects(ls_client, title)] == [project["id"]]
    assert sorted(_sample_ids_of_tasks(ls_client, project["id"])) == sorted(dataset.values("id"))
    assert len(ls_client.uploaded_files(project["id"])) == 5  # the second batch's files were not sent again
    assert results.project_id == project["id"] and results.project_created and results.upload_complete
    assert sorted(results.uploaded_tasks.values()) == sorted(dataset.values("id"))
    stored = dataset.load_annotation_results("k", cache=False)
    assert stored.upload_complete and stored.project_created and stored.uploaded_tasks == results.uploaded_tasks

    last = dataset.last()
    annotator.submit(task_of(results, last.id), [])
    dataset.load_annotations("k")
    assert dataset.last().gt.detections == []
    assert all(len(s.gt.detections) == 1 for s in dataset.limit(4))


KILLED_ANNOTATE = textwrap.dedent(
    """
    import os, sys, time
    import fiftyone as fo
    from fo_annotation_backends.labelstudio import LabelStudioBackend, LabelStudioClient

    url, key, name, title, kill_point = sys.argv[1:6]
    fo.annotation_config.backends["labelstudio"] = {
        "config_cls": "fo_annotation_backends.labelstudio.LabelStudioBackendConfig", "url": url, "api_key": key,
    }

    def wait_for_the_kill():
        print("KILL ME", flush=True)
        time.sleep(600)

    if kill_point == "after the first tasks":
        real_import = LabelStudioClient.import_tasks

        def import_then_wait(self, *args, **kwargs):
            created = real_import(self, *args, **kwargs)
            wait_for_the_kill()
            return created

        LabelStudioClient.import_tasks = import_then_wait
    else:  # the project exists, its record is not written yet
        LabelStudioBackend.record_partial = lambda *args, **kwargs: wait_for_the_kill()

    dataset = fo.load_dataset(name)
    dataset.annotate("k", backend="labelstudio", label_schema={"gt": {"type": "detections", "classes": ["cat", "dog"]}},
                     project_name=title, import_batch_size=2, local_files=False)
    """
)


@pytest.mark.parametrize("kill_point", ["after the first tasks", "before the project is recorded"])
def test_a_process_killed_mid_upload_is_resumed_by_the_same_call(
    dataset, media_dir, backend, annotator, ls_server, ls_client, kill_point
):
    add_images(dataset, media_dir, 4, gt=_boxes)
    title = "killed-%s" % uuid.uuid4().hex[:8]
    process = subprocess.Popen(
        [sys.executable, "-c", KILLED_ANNOTATE, ls_server.url, ls_server.legacy_token, dataset.name, title, kill_point],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert line.strip() == "KILL ME", process.stderr.read()[-3000:]
        (project,) = _projects(ls_client, title)
        created_before = len(_sample_ids_of_tasks(ls_client, project["id"]))
        assert created_before == (2 if kill_point == "after the first tasks" else 0)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.communicate(timeout=60)

    dataset.reload()
    assert "k" in dataset.list_annotation_runs()
    results = dataset.annotate(
        "k", backend=backend, label_schema=BOXES, project_name=title, import_batch_size=2, local_files=False
    )

    assert [p["id"] for p in _projects(ls_client, title)] == [project["id"]]
    assert sorted(_sample_ids_of_tasks(ls_client, project["id"])) == sorted(dataset.values("id"))
    assert len(ls_client.uploaded_files(project["id"])) == 4
    assert results.project_id == project["id"] and results.project_created and results.upload_complete
    first = dataset.first()
    annotator.submit(task_of(results, first.id), [])
    dataset.load_annotations("k")
    assert dataset.first().gt.detections == []
    dataset.load_annotation_results("k").cleanup()
    assert ls_client.get_project(project["id"]) is None  # the run created it


# -- bad input, refused before anything is created --------------------------------


@pytest.fixture
def not_label_studio(tmp_path):
    """An HTTP server that is not Label Studio (it serves a folder)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    handler.log_message = lambda *args: None
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def nothing_created(ls_client):
    before = {p["id"] for p in _projects(ls_client)}
    yield
    assert {p["id"] for p in _projects(ls_client)} == before


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"projet_name": "typo"}, ParameterError, "'projet_name'; did you mean 'project_name'"),
        ({"upload_max_files": 0}, ParameterError, "`upload_max_files` must be a positive integer"),
        ({"import_batch_size": -2}, ParameterError, "`import_batch_size` must be a positive integer"),
        ({"timeout": 0}, ParameterError, "`timeout` must be a positive number"),
        ({"local_files": "sometimes"}, ParameterError, "`local_files` must be one of True, False, 'auto'"),
        ({"project_id": 987654321}, ParameterError, "project 987654321 .* does not exist"),
    ],
)
def test_bad_options_are_refused_before_anything_is_created(
    dataset, media_dir, backend, nothing_created, kwargs, error, match
):
    add_images(dataset, media_dir, 1, gt=_boxes)
    with pytest.raises(error, match=match):
        dataset.annotate("bad", backend=backend, label_schema=BOXES, **kwargs)
    assert "bad" not in dataset.list_annotation_runs()


def test_a_url_that_is_not_label_studio_says_which_url_is_expected(
    dataset, media_dir, backend, not_label_studio, nothing_created
):
    add_images(dataset, media_dir, 1, gt=_boxes)
    with pytest.raises(ParameterError) as info:
        dataset.annotate("bad", backend=backend, label_schema=BOXES, url=not_label_studio)
    assert "is not a Label Studio server" in str(info.value)
    assert "the address of the Label Studio server, the one you open in a browser" in str(info.value)
    assert "bad" not in dataset.list_annotation_runs()


def test_bad_media_and_repeated_samples_are_refused_before_anything_is_created(
    dataset, media_dir, backend, nothing_created
):
    add_images(dataset, media_dir, 3, gt=_boxes)
    corrupt = dataset.values("filepath")[1]
    with open(corrupt, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n not really an image")
    with pytest.raises(MediaError, match="not a decodable image") as info:
        dataset.annotate("bad", backend=backend, label_schema=BOXES)
    assert corrupt in str(info.value)

    first = dataset.first().id
    twice = dataset.select([first]).concat(dataset.select([first]))
    with pytest.raises(ParameterError, match="lists 1 sample\\(s\\) more than once"):
        twice.annotate("twice", backend=backend, label_schema=BOXES)
    assert dataset.list_annotation_runs() == []


def test_a_used_run_key_says_how_to_proceed(dataset, media_dir, backend, ls_client):
    add_images(dataset, media_dir, 1, gt=_boxes)
    dataset.annotate("k", backend=backend, label_schema=BOXES)
    before = {p["id"] for p in _projects(ls_client)}
    with pytest.raises(ParameterError, match="already has an annotation run 'k'.*Use another run key.*cleanup\\(\\)"):
        dataset.annotate("k", backend=backend, label_schema=BOXES)
    assert {p["id"] for p in _projects(ls_client)} == before


def test_an_unfinished_run_in_another_runs_project_is_discarded_by_its_cleanup(
    dataset, media_dir, backend, ls_client, monkeypatch
):
    add_images(dataset, media_dir, 5, gt=_boxes)
    first = dataset.limit(2).annotate("first", backend=backend, label_schema=BOXES)
    real_import = LabelStudioClient.import_tasks
    imports = []

    def answer_lost_on_the_second_batch(self, *args, **kwargs):
        imports.append(1)
        created = real_import(self, *args, **kwargs)
        if len(imports) == 2:
            raise ServiceUnavailableError("the answer was lost")
        return created

    monkeypatch.setattr(LabelStudioClient, "import_tasks", answer_lost_on_the_second_batch)
    with pytest.raises(UploadInterruptedError):
        dataset.skip(2).annotate(
            "k", backend=backend, label_schema=BOXES, project_id=first.project_id, import_batch_size=1
        )
    assert len(ls_client.task_ids(first.project_id)) == 4

    unfinished = dataset.load_annotation_results("k", cache=False)
    assert not unfinished.upload_complete and not unfinished.project_created
    unfinished.cleanup()
    dataset.delete_annotation_run("k")

    assert ls_client.task_ids(first.project_id) == set(first.uploaded_tasks)
    dataset.annotate("k", backend=backend, label_schema=BOXES)  # the key is free again
