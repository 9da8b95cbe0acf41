"""What a run owns: cleanup deletes the run's tasks, and the project only
when the run created it and nothing else is in it; a deleted project is a
clear error; the API client is FiftyOne's AnnotationAPI."""

import os
import uuid

import fiftyone as fo
import fiftyone.utils.annotations as foua
import pytest
from ls_helpers import add_images, dets, task_of

from fo_annotation_backends.core.errors import ProjectDeletedError
from fo_annotation_backends.labelstudio import LabelStudioClient

pytestmark = pytest.mark.integration

BOXES = {"gt": {"type": "detections", "classes": ["cat", "dog"]}}


def _boxes(i):
    return dets(("cat", [0.1, 0.1, 0.2, 0.2]))


@pytest.fixture
def other_dataset(backend):
    ds = fo.Dataset("other-%s" % uuid.uuid4().hex[:10])
    yield ds
    for key in ds.list_annotation_runs():
        try:
            ds.load_annotation_results(key).cleanup()
        except Exception:
            pass
    ds.delete()


def _folder(media_dir, name):
    path = os.path.join(media_dir, name)
    os.makedirs(path)
    return path


def _project_tasks(ls_client, project_id):
    return ls_client.task_ids(project_id)


@pytest.mark.parametrize("first_cleanup", ["A", "B"])
def test_a_run_in_another_runs_project_removes_only_its_own_tasks(
    dataset, other_dataset, media_dir, backend, annotator, ls_client, first_cleanup
):
    add_images(dataset, _folder(media_dir, "a"), 2, gt=_boxes)
    add_images(other_dataset, _folder(media_dir, "b"), 2, gt=_boxes)
    a = dataset.annotate("k", backend=backend, label_schema=BOXES)
    b = other_dataset.annotate("k", backend=backend, label_schema=BOXES, project_id=a.project_id)
    project = a.project_id
    assert b.project_id == project
    # what each run owns is recorded with it
    a_stored = dataset.load_annotation_results("k", cache=False)
    b_stored = other_dataset.load_annotation_results("k", cache=False)
    assert (a_stored.project_created, b_stored.project_created) == (True, False)

    edited = annotator.prefilled_result(task_of(a, dataset.first().id))
    edited[0]["value"]["rectanglelabels"] = ["dog"]
    annotator.submit(task_of(a, dataset.first().id), edited)

    if first_cleanup == "B":
        b_stored.cleanup()
        assert _project_tasks(ls_client, project) == set(a.uploaded_tasks)  # A's tasks survive
        dataset.load_annotations("k")
        assert dataset.first().gt.detections[0].label == "dog"  # and A's labels load
        a_stored.cleanup()  # A created the project and nothing else is in it now
        assert ls_client.get_project(project) is None
    else:
        a_stored.cleanup()  # A created the project, but B's tasks are in it
        assert _project_tasks(ls_client, project) == set(b.uploaded_tasks)
        b_stored.cleanup()  # B did not create the project: its tasks only
        assert ls_client.get_project(project) is not None
        assert _project_tasks(ls_client, project) == set()
        ls_client.delete_project(project)


def test_load_after_cleanup_is_a_clear_error_and_changes_nothing(dataset, media_dir, backend, annotator):
    add_images(dataset, media_dir, 2, gt=_boxes)
    results = dataset.annotate("k", backend=backend, label_schema=BOXES)
    annotator.submit(task_of(results, dataset.first().id), [])
    dataset.load_annotations("k", cleanup=True)
    assert dataset.first().gt.detections == []
    before = [[d.id for d in s.gt.detections] for s in dataset]

    with pytest.raises(ProjectDeletedError, match="no longer exists.*dataset was not changed"):
        dataset.load_annotations("k")
    with pytest.raises(ProjectDeletedError):
        dataset.load_annotation_results("k").get_status()

    assert [[d.id for d in s.gt.detections] for s in dataset] == before
    stored = dataset.load_annotation_results("k")
    stored.cleanup()  # already deleted: nothing happens
    stored.cleanup()


def test_the_client_is_an_annotation_api_and_survives_a_with_block(dataset, media_dir, backend, ls_server):
    add_images(dataset, media_dir, 1, gt=_boxes)
    results = dataset.annotate("k", backend=backend, label_schema=BOXES)
    api = results.connect_to_api()
    assert isinstance(api, foua.AnnotationAPI) and isinstance(api, LabelStudioClient)
    assert results.connect_to_api() is api

    with results:
        assert results.connect_to_api() is api
    # FiftyOne closed that client: the next call gets a new one that works
    fresh = results.connect_to_api()
    assert fresh is not api
    assert fresh.get_project(results.project_id)["id"] == results.project_id
    assert results.get_status()["total"] == 1

    standalone = foua.connect_to_api(backend=backend)
    assert isinstance(standalone, LabelStudioClient)
    assert standalone.check_credentials()["email"] == ls_server.username
    standalone.close()


def test_fiftyone_style_predictions_made_through_the_sdk_come_back(dataset, media_dir, backend):
    """What FiftyOne's own Label Studio tests do: a new scalar field and a new
    keypoints field, predictions created through ``api._client`` (the SDK's
    legacy client), turned into annotations, then loaded."""
    add_images(dataset, media_dir, 2)
    runs = {
        "number": dict(label_field="new_field-scalar", label_type="scalar"),
        "points": dict(label_field="new_field-keypoints", label_type="keypoints", classes=["Tail", "Eye"]),
    }
    predictions = {
        "number": [{"number": 42}, {"number": 7}],
        "points": [
            [
                {
                    "type": "keypointlabels",
                    "from_name": "new_field-keypoints",
                    "to_name": "image",
                    "value": {"x": 10.0 * k, "y": 20.0, "width": 0.34, "keypointlabels": ["Tail"]},
                }
                for k in range(1, 6)
            ],
            [
                {
                    "type": "keypointlabels",
                    "from_name": "new_field-keypoints",
                    "to_name": "image",
                    "value": {"x": x, "y": 50.0, "width": 0.34, "keypointlabels": [label]},
                }
                for x, label in ((10.0, "Eye"), (20.0, "Tail"), (30.0, "Eye"))
            ],
        ],
    }
    for key, kwargs in runs.items():
        results = dataset.annotate(key, backend=backend, **kwargs)
        project = results.connect_to_api()._client.get_project(results.project_id)
        for task_id, result in zip(results.uploaded_tasks, predictions[key]):
            project.create_prediction(task_id=task_id, result=result)
        project.create_annotations_from_predictions()
        dataset.load_annotations(key)

    first, second = dataset.select(list(results.uploaded_tasks.values()), ordered=True)
    assert (first["new_field-scalar"], second["new_field-scalar"]) == (42, 7)
    assert isinstance(first["new_field-scalar"], int)
    (tail,) = first["new_field-keypoints"].keypoints
    assert tail.label == "Tail" and len(tail.points) == 5
    assert [p[0] for p in tail.points] == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])
    by_class = {k.label: k for k in second["new_field-keypoints"].keypoints}
    assert [p[0] for p in by_class["Eye"].points] == pytest.approx([0.1, 0.3])
    assert [p[0] for p in by_class["Tail"].points] == pytest.approx([0.2])
