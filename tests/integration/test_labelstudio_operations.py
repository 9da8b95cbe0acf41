"""Credentials, media modes, validation, rollback, secrets, status, cleanup."""

import json
import logging
import os
import shutil
import uuid

import fiftyone as fo
import pytest
from ls_helpers import add_images, dets, task_of

from fo_annotation_backends.core.errors import AnnotationBackendError, AuthenticationError, MediaError, SchemaError
from fo_annotation_backends.core.runs import STATUS_KEYS
from fo_annotation_backends.labelstudio import LabelStudioClient

pytestmark = pytest.mark.integration

BOXES = {"ground_truth": {"type": "detections", "classes": ["cat", "dog"]}}


def _titles(ls_client):
    return {p["title"] for p in ls_client.http.get_json("/api/projects", params={"page_size": 1000})["results"]}


def _with_boxes(i):
    return dets(("cat", [0.1, 0.1, 0.2, 0.2]))


# -- credentials ----------------------------------------------------------


def test_wrong_key_fails_before_anything_is_created(dataset, media_dir, backend, ls_client, caplog):
    add_images(dataset, media_dir, 2, ground_truth=_with_boxes)
    bad_key = "definitely-not-the-key-%s" % uuid.uuid4().hex
    title = "never-created-%s" % uuid.uuid4().hex[:8]
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AuthenticationError) as info:
        dataset.annotate("bad", backend=backend, label_schema=BOXES, api_key=bad_key, project_name=title)
    message = str(info.value)
    assert "wrong or was revoked" in message and "legacy token" in message
    assert bad_key not in message and bad_key not in repr(info.value)
    assert bad_key not in caplog.text
    assert title not in _titles(ls_client)
    assert "bad" not in dataset.list_annotation_runs()  # the key can be used again


def test_personal_access_token_works(dataset, media_dir, ls_server, backend, annotator):
    pat = ls_server.create_personal_access_token()
    add_images(dataset, media_dir, 1, ground_truth=_with_boxes)
    results = dataset.annotate("pat", backend=backend, label_schema=BOXES, api_key=pat)
    client = results.connect_to_api()
    assert not client.uses_legacy_token
    annotator.submit(task_of(results, dataset.first().id), [])
    dataset.load_annotations("pat", api_key=pat)
    assert dataset.first().ground_truth.detections == []
    run_doc = json.dumps(dataset.get_annotation_info("pat").serialize(), default=str)
    assert pat not in run_doc


def test_legacy_token_disabled_says_so(ls_server):
    pat = ls_server.create_personal_access_token()
    ls_server.set_legacy_tokens_enabled(False, pat)
    try:
        client = LabelStudioClient(ls_server.url, ls_server.legacy_token)
        with pytest.raises(AuthenticationError) as info:
            client.check_credentials()
        assert "legacy tokens are disabled for this organization" in str(info.value)
        assert "personal access token" in str(info.value)
        assert ls_server.legacy_token not in str(info.value)
        LabelStudioClient(ls_server.url, pat).check_credentials()  # a PAT still works
    finally:
        ls_server.set_legacy_tokens_enabled(True, pat)
    LabelStudioClient(ls_server.url, ls_server.legacy_token).check_credentials()


def test_no_server_at_url_is_a_clear_error(dataset, media_dir, backend):
    add_images(dataset, media_dir, 1, ground_truth=_with_boxes)
    from fo_annotation_backends.core.errors import ServiceUnavailableError
    from fo_annotation_backends.testing.labelstudio_server import free_port

    with pytest.raises(ServiceUnavailableError, match="No Label Studio server answers"):
        dataset.annotate(
            "down", backend=backend, label_schema=BOXES, url="http://127.0.0.1:%d" % free_port(), max_retries=1
        )
    assert "down" not in dataset.list_annotation_runs()


# -- validation before upload -----------------------------------------------


def test_missing_media_is_named_before_upload(dataset, media_dir, backend, ls_client):
    add_images(dataset, media_dir, 3, ground_truth=_with_boxes)
    gone = dataset.values("filepath")[1]
    os.remove(gone)
    before = _titles(ls_client)
    with pytest.raises(MediaError) as info:
        dataset.annotate("missing", backend=backend, label_schema=BOXES, project_name="missing-%s" % uuid.uuid4().hex)
    assert gone in str(info.value) and "file not found" in str(info.value)
    assert _titles(ls_client) == before
    assert "missing" not in dataset.list_annotation_runs()


def test_schema_problems_are_caught_before_upload(dataset, media_dir, backend, ls_client):
    add_images(dataset, media_dir, 1, ground_truth=_with_boxes)
    before = _titles(ls_client)
    with pytest.raises(ValueError, match="unsupported label type"):
        dataset.annotate("bad1", backend=backend, label_schema={"x": {"type": "cuboids", "classes": ["a"]}})
    with pytest.raises(ValueError, match="class list"):
        dataset.annotate("bad2", backend=backend, label_schema={"newfield": {"type": "detections"}})
    with pytest.raises(ValueError, match="mask targets"):
        dataset.annotate("bad3", backend=backend, label_schema={"seg": {"type": "segmentation"}})
    with pytest.raises(ValueError, match="requires a list of values"):
        dataset.annotate(
            "bad4",
            backend=backend,
            label_schema={
                "ground_truth": {"type": "detections", "classes": ["cat"], "attributes": {"a": {"type": "select"}}}
            },
        )
    with pytest.raises(SchemaError, match="RGB mask targets are not supported"):
        dataset.annotate(
            "bad5", backend=backend, label_schema={"seg": {"type": "segmentation", "mask_targets": {"#ff0000": "red"}}}
        )
    assert _titles(ls_client) == before
    assert dataset.list_annotation_runs() == []


def test_empty_view_and_video_are_refused(dataset, media_dir, backend):
    add_images(dataset, media_dir, 1, ground_truth=_with_boxes)
    with pytest.raises(ValueError, match="empty"):
        dataset.limit(0).annotate("empty", backend=backend, label_schema=BOXES)
    video = fo.Dataset()
    try:
        path = os.path.join(media_dir, "clip.mp4")
        open(path, "wb").write(b"\x00" * 64)
        video.add_sample(fo.Sample(filepath=path))
        with pytest.raises(Exception, match="video"):
            video.annotate(
                "vid", backend=backend, label_schema={"frames.boxes": {"type": "detections", "classes": ["a"]}}
            )
    finally:
        video.delete()


# -- rollback ---------------------------------------------------------------


def test_a_failure_before_any_task_exists_deletes_the_project_and_unregisters_the_run(
    dataset, media_dir, backend, ls_client, monkeypatch
):
    add_images(dataset, media_dir, 3, ground_truth=_with_boxes)
    title = "halfway-%s" % uuid.uuid4().hex[:8]

    def broken_import(self, *args, **kwargs):
        raise RuntimeError("the network went away during the task import")

    monkeypatch.setattr(LabelStudioClient, "import_tasks", broken_import)
    with pytest.raises(RuntimeError, match="network went away"):
        dataset.annotate("half", backend=backend, label_schema=BOXES, project_name=title)
    assert title not in _titles(ls_client)
    assert "half" not in dataset.list_annotation_runs()

    monkeypatch.undo()
    results = dataset.annotate("half", backend=backend, label_schema=BOXES, project_name=title)
    assert len(results.uploaded_tasks) == 3
    assert title in _titles(ls_client)


def test_a_failure_before_any_task_in_a_reused_project_puts_its_config_back(
    dataset, media_dir, backend, ls_client, monkeypatch
):
    add_images(dataset, media_dir, 4, ground_truth=_with_boxes)
    first = dataset.limit(2).annotate("first", backend=backend, label_schema=BOXES)
    before = ls_client.get_project(first.project_id)["label_config"]
    files_before = len(ls_client.uploaded_files(first.project_id))

    def broken_import(self, *args, **kwargs):
        raise RuntimeError("the answer to the first batch was lost")

    monkeypatch.setattr(LabelStudioClient, "import_tasks", broken_import)
    with pytest.raises(RuntimeError, match="first batch"):
        dataset.skip(2).annotate(
            "again",
            backend=backend,
            project_id=first.project_id,
            label_schema={"ground_truth": {"type": "detections", "classes": ["cat", "dog", "bird"]}},
        )
    assert {t["id"] for t in ls_client.export_tasks(first.project_id)} == set(first.uploaded_tasks)
    assert ls_client.get_project(first.project_id)["label_config"] == before
    assert len(ls_client.uploaded_files(first.project_id)) == files_before  # its uploads went too
    assert "again" not in dataset.list_annotation_runs()


def test_large_runs_download_page_by_page_with_the_same_outcome(dataset, media_dir, backend, annotator, ls_client):
    add_images(dataset, media_dir, 5, ground_truth=_with_boxes)
    # above export_max_tasks: pages of 2 tasks instead of one export
    results = dataset.annotate("paged", backend=backend, label_schema=BOXES, export_max_tasks=4, download_page_size=2)
    ids = dataset.values("id")
    kept = dataset.first().ground_truth.detections[0].id
    annotator.submit(task_of(results, ids[0]), annotator.prefilled_result(task_of(results, ids[0])))
    annotator.submit(task_of(results, ids[1]), [])
    annotator.skip(task_of(results, ids[2]))
    moved = annotator.prefilled_result(task_of(results, ids[4]))
    moved[0]["value"]["x"] = 50.0
    annotator.submit(task_of(results, ids[4]), moved)

    status = results.get_status()
    assert (status["labeled"], status["service"]["skipped"], status["unlabeled"]) == (3, 1, 2)
    client = results.connect_to_api()
    before = client.request_count
    dataset.load_annotations("paged")
    assert client.request_count - before == 3  # pages of 2, 2 and 1 tasks
    boxes = [s.ground_truth.detections for s in dataset.select(ids, ordered=True)]
    assert [d.id for d in boxes[0]] == [kept]
    assert boxes[1] == []
    assert len(boxes[2]) == len(boxes[3]) == 1
    assert boxes[4][0].bounding_box[0] == pytest.approx(0.5)


# -- media modes --------------------------------------------------------------


def test_local_files_mode_is_decided_by_the_server(dataset, backend, document_root, annotator, ls_client, monkeypatch):
    monkeypatch.delenv("LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT", raising=False)
    folder = os.path.join(document_root, "local-%s" % uuid.uuid4().hex[:8], "nested dir")
    os.makedirs(folder)
    try:
        add_images(dataset, folder, 3, ground_truth=_with_boxes)
        results = dataset.annotate("local", backend=backend, label_schema=BOXES)
        tasks = {t["id"]: t for t in ls_client.export_tasks(results.project_id)}
        images = [tasks[t]["data"]["image"] for t in results.uploaded_tasks]
        assert all(i.startswith("/data/local-files/?d=") for i in images)
        response = ls_client.http.request("GET", images[0])
        assert response.content == open(dataset.first().filepath, "rb").read()
        annotator.submit(task_of(results, dataset.first().id), [])
        dataset.load_annotations("local")
        assert dataset.first().ground_truth.detections == []
    finally:
        shutil.rmtree(os.path.dirname(folder), ignore_errors=True)


def test_upload_mode_goes_past_the_server_file_limit(dataset, media_dir, backend, ls_client):
    # the server refuses more than 100 files per request: we chunk
    add_images(dataset, media_dir, 130, width=16, height=12)
    results = dataset.annotate(
        "many",
        backend=backend,
        label_field="boxes",
        label_type="detections",
        classes=["a"],
        local_files=False,
        upload_max_files=40,
        upload_workers=3,
    )
    assert len(results.uploaded_tasks) == 130
    tasks = ls_client.export_tasks(results.project_id)
    assert all(t["data"]["image"].startswith("/data/upload/") for t in tasks)
    assert {t["data"]["fo_sample_id"] for t in tasks} == set(dataset.values("id"))
    # 4 requests, 3 in flight: every task still shows its own sample's file
    paths = dict(zip(dataset.values("id"), dataset.values("filepath")))
    for task in tasks[::13]:
        served = ls_client.http.request("GET", task["data"]["image"]).content
        assert served == open(paths[task["data"]["fo_sample_id"]], "rb").read()


def test_local_files_true_without_serving_is_an_error(dataset, media_dir, backend, ls_client):
    add_images(dataset, media_dir, 1, ground_truth=_with_boxes)
    title = "nolocal-%s" % uuid.uuid4().hex[:8]
    with pytest.raises(MediaError, match="does not serve local files"):
        dataset.annotate("nolocal", backend=backend, label_schema=BOXES, local_files=True, project_name=title)
    assert title not in _titles(ls_client)


# -- secrets, status, projects, cleanup -----------------------------------------


def test_titles_stay_within_the_server_limit(dataset, media_dir, backend, ls_client):
    add_images(dataset, media_dir, 1, ground_truth=_with_boxes)
    long_title = ("t%s" % uuid.uuid4().hex)[:8].ljust(50, "x")
    first = dataset.annotate("t1", backend=backend, label_schema=BOXES, project_name=long_title)
    second = dataset.annotate("t2", backend=backend, label_schema=BOXES, project_name=long_title)
    third = dataset.annotate("t3", backend=backend, label_schema=BOXES, project_name=long_title)
    titles = [ls_client.get_project(r.project_id)["title"] for r in (first, second, third)]
    assert titles[0] == long_title
    assert len(set(titles)) == 3 and all(len(t) == 50 for t in titles)
    assert all(t.startswith(long_title[:20]) for t in titles)

    count = len(_titles(ls_client))
    with pytest.raises(AnnotationBackendError, match="has 51 characters; Label Studio needs 3 to 50"):
        dataset.annotate("t4", backend=backend, label_schema=BOXES, project_name=long_title + "y")
    assert len(_titles(ls_client)) == count and "t4" not in dataset.list_annotation_runs()


def test_the_api_key_is_never_stored_or_logged(dataset, media_dir, backend, ls_server, caplog):
    caplog.set_level(logging.DEBUG)
    add_images(dataset, media_dir, 2, ground_truth=_with_boxes)
    results = dataset.annotate("secret", backend=backend, label_schema=BOXES)
    dataset.load_annotations("secret")
    key = ls_server.legacy_token
    run_docs = dataset._doc.annotation_runs
    stored = json.dumps({k: v.to_dict() for k, v in run_docs.items()}, default=str)
    stored += json.dumps(dataset.get_annotation_info("secret").config.serialize(), default=str)
    stored += json.dumps(results.serialize(), default=str)
    assert key not in stored
    assert key not in repr(results.config) and key not in repr(results.connect_to_api())
    assert key not in caplog.text
    assert results.config.api_key == key  # still usable in memory


def test_status_has_the_common_shape_and_counts_labeled_skipped_and_annotators(
    dataset, media_dir, backend, annotator, ls_client, capsys
):
    add_images(dataset, media_dir, 4, ground_truth=_with_boxes)
    results = dataset.annotate("status", backend=backend, label_schema=BOXES)
    ids = dataset.values("id")
    annotator.submit(task_of(results, ids[0]), [])
    annotator.submit(task_of(results, ids[1]), annotator.prefilled_result(task_of(results, ids[1])))
    annotator.skip(task_of(results, ids[2]))
    ls_client.http.request("DELETE", "/api/tasks/%d/" % task_of(results, ids[3]))
    status = results.get_status()
    assert set(status) == set(STATUS_KEYS)
    assert status == {
        "project_id": results.project_id,
        "total": 4,
        "labeled": 2,
        "reviewed": 0,
        "unlabeled": 1,  # the skipped task
        "missing": 1,
        "annotators": {"fiftyone@example.com": 3},
        "service": {"skipped": 1, "url": results.project_url},
    }
    results.print_status()
    out = capsys.readouterr().out
    assert "labeled:   2" in out and "skipped:   1" in out and results.project_url in out


def test_an_existing_title_gets_a_suffix_and_cleanup_is_one_request(dataset, media_dir, backend, ls_client):
    add_images(dataset, media_dir, 5, ground_truth=_with_boxes)
    title = "same-title-%s" % uuid.uuid4().hex[:8]
    first = dataset.annotate("one", backend=backend, label_schema=BOXES, project_name=title)
    second = dataset.annotate("two", backend=backend, label_schema=BOXES, project_name=title)
    assert first.project_id != second.project_id
    titles = _titles(ls_client)
    assert title in titles and any(t.startswith(title + "_") for t in titles)

    client = second.connect_to_api()
    before = client.request_count
    second.cleanup()
    # a look at the project and at its task ids (nothing else in it), then
    # one DELETE for the project and its tasks
    assert client.request_count - before == 3
    assert ls_client.get_project(second.project_id) is None
    assert ls_client.get_project(first.project_id) is not None


def test_reusing_a_project_adds_tasks_and_cleanup_removes_only_ours(dataset, media_dir, backend, annotator, ls_client):
    add_images(dataset, media_dir, 4, ground_truth=_with_boxes)
    view_a, view_b = dataset.limit(2), dataset.skip(2)
    first = view_a.annotate("a", backend=backend, label_schema=BOXES)
    second = view_b.annotate("b", backend=backend, label_schema=BOXES, project_id=first.project_id)
    assert second.project_id == first.project_id and not second.project_created
    assert len(ls_client.export_tasks(first.project_id)) == 4

    b_sample = view_b.first()
    annotator.submit(task_of(second, b_sample.id), [])
    dataset.load_annotations("b")
    assert dataset[b_sample.id].ground_truth.detections == []
    assert len(view_a.first().ground_truth.detections) == 1

    second.cleanup()
    remaining = {t["id"] for t in ls_client.export_tasks(first.project_id)}
    assert remaining == set(first.uploaded_tasks)
