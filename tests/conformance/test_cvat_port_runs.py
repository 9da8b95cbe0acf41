"""The backend-independent scenarios of FiftyOne's ``tests/intensive/cvat_tests.py``
about the run itself, ported to every backend: ``with results:`` and
``results.connect_to_api()``, ``fiftyone.utils.annotations.connect_to_api``,
new label fields, deleted items, ``dest_field``, ``unexpected``,
``get_status()``, ``load_annotations(key, cleanup=True)`` and cleanup, and an
erased segmentation."""

import builtins

import fiftyone.core.labels as fol
import fiftyone.utils.annotations as foua
import numpy as np
import pytest

from fo_annotation_backends.core import errors

from .helpers import add_samples, box, box_tolerance, by_id, detections, ids, rect_mask, snapshot

pytestmark = pytest.mark.integration

STATUS_KEYS = {"project_id", "total", "labeled", "reviewed", "unlabeled", "missing", "annotators", "service"}


def _boxes(i):
    return detections(box("cat", [0.1, 0.1, 0.2, 0.2]), box("dog", [0.5, 0.5, 0.3, 0.2]))


@pytest.fixture
def no_prompt(monkeypatch):
    """``input()`` fails the test: nothing may prompt."""

    def refuse(*args, **kwargs):
        raise AssertionError("load_annotations prompted: %r" % (args,))

    monkeypatch.setattr(builtins, "input", refuse)


def test_upload_with_results_and_connect_to_api(service, dataset, media):
    """cvat test_upload: the uploaded labels are on the service under their
    ids; ``with results:`` and ``results.connect_to_api()`` give an
    AnnotationAPI, also for results loaded back from the dataset; loading
    with cleanup keeps every id."""
    add_samples(dataset, media, 1, ground_truth=_boxes)
    previous_ids = ids(dataset, "ground_truth")
    results = dataset.annotate("upload", backend=service.name, label_field="ground_truth")
    human = service.human(results)
    with results:
        api = results.connect_to_api()
        assert isinstance(api, foua.AnnotationAPI)
        assert results.connect_to_api() is api
        assert set(human.open(dataset.first().id).label_ids("ground_truth")) == set(previous_ids)
        assert list(human.items()) == [dataset.first().id]

    stored = dataset.load_annotation_results("upload")
    with stored:
        assert isinstance(stored.connect_to_api(), foua.AnnotationAPI)

    dataset.load_annotations("upload", cleanup=True)
    assert ids(dataset, "ground_truth") == previous_ids
    assert not human.project_exists()


def test_connect_to_api_function(service):
    """``fiftyone.utils.annotations.connect_to_api(backend=...)`` returns the
    backend's AnnotationAPI, a context manager with ``close()``."""
    api = foua.connect_to_api(backend=service.name)
    assert isinstance(api, foua.AnnotationAPI)
    with api as entered:
        assert entered is api
    api.close()


def test_example_add_new_label_fields(service, dataset, media):
    """cvat test_example_add_new_label_fields: a new field from
    ``label_field``/``label_type``/``classes``, then one from a ``label_schema``."""
    add_samples(dataset, media, 2)
    view = dataset.limit(1)
    results = view.annotate(
        "new_field",
        backend=service.name,
        label_field="new_classifications",
        label_type="classifications",
        classes=["dog", "cat", "person"],
    )
    assert dataset.get_annotation_info("new_field") is not None
    human = service.human(results)
    assert list(human.items()) == [view.first().id]
    doc = human.open(view.first().id)
    doc.set_classes("new_classifications", ["dog"])
    human.submit(doc)
    dataset.load_annotations("new_field", cleanup=True)
    tags = view.first().new_classifications.classifications
    assert [t.label for t in tags] == ["dog"]
    assert dataset.last().new_classifications is None

    label_schema = {"new_classifications_2": {"type": "classifications", "classes": ["dog", "cat", "person"]}}
    results = view.annotate("new_field_schema", backend=service.name, label_schema=label_schema)
    human = service.human(results)
    doc = human.open(view.first().id)
    doc.set_classes("new_classifications_2", ["person"])
    human.submit(doc)
    dataset.load_annotations("new_field_schema", cleanup=True)
    assert [t.label for t in view.first().new_classifications_2.classifications] == ["person"]


def test_deleted_tasks(service, dataset, media):
    """cvat test_deleted_tasks: an item deleted on the service; its sample
    keeps its labels, the status says it is missing."""
    add_samples(dataset, media, 2, ground_truth=_boxes)
    before = snapshot(dataset, ["ground_truth"])
    results = dataset.annotate("deleted", backend=service.name, label_field="ground_truth")
    human = service.human(results)
    human.delete_item(dataset.first().id)
    with results:
        status = results.get_status()
    assert (status["total"], status["missing"]) == (2, 1)
    dataset.load_annotations("deleted", cleanup=True)
    assert snapshot(dataset, ["ground_truth"]) == before


def test_get_status(service, dataset, media, capsys):
    """The same keys on every backend; items submitted, deleted on the
    service, skipped and untouched counted as such; then what loads."""
    samples = add_samples(dataset, media, 4, ground_truth=_boxes)
    before = snapshot(dataset, ["ground_truth"])
    results = dataset.annotate("status", backend=service.name, label_field="ground_truth")
    human = service.human(results)
    status = results.get_status()
    assert set(status) >= STATUS_KEYS, sorted(status)
    assert (status["total"], status["labeled"], status["unlabeled"], status["missing"]) == (4, 0, 4, 0)

    edited = samples[0].ground_truth.detections[0].id
    doc = human.open(samples[0].id)
    doc.edit("ground_truth", edited, label="dog")
    human.submit(doc)
    human.delete_item(samples[1].id)
    human.skip(samples[2].id)

    status = results.get_status()
    assert set(status) >= STATUS_KEYS, sorted(status)
    assert str(status["project_id"]) == str(results.project_id)
    counts = {k: status[k] for k in ("total", "labeled", "reviewed", "unlabeled", "missing")}
    assert counts == {"total": 4, "labeled": 1, "reviewed": 0, "unlabeled": 2, "missing": 1}
    assert isinstance(status["service"], dict)
    assert isinstance(status["annotators"], dict)
    if human.identity is not None:
        assert set(status["annotators"]) == {human.identity}
    results.print_status()
    printed = capsys.readouterr().out
    assert results.project_url in printed  # where to look

    dataset.load_annotations("status")
    after = snapshot(dataset, ["ground_truth"])
    for sample in samples[1:]:  # deleted, skipped, untouched: as they were
        assert after[sample.id] == before[sample.id]
    labels = by_id(dataset.first().ground_truth)
    assert labels[edited].label == "dog" and len(labels) == 2


def test_load_after_cleanup_raises_project_deleted(service, dataset, media):
    """``load_annotations(key, cleanup=True)`` merges, then deletes the
    project; loading again raises ProjectDeletedError, dataset untouched."""
    samples = add_samples(dataset, media, 2, ground_truth=_boxes)
    results = dataset.annotate("gone", backend=service.name, label_field="ground_truth")
    human = service.human(results)
    edited = samples[0].ground_truth.detections[1].id
    doc = human.open(samples[0].id)
    doc.edit("ground_truth", edited, bounding_box=[0.4, 0.4, 0.2, 0.2])
    human.submit(doc)

    dataset.load_annotations("gone", cleanup=True)
    assert by_id(dataset.first().ground_truth)[edited].bounding_box == pytest.approx(
        [0.4, 0.4, 0.2, 0.2], abs=box_tolerance(human)
    )
    assert not human.project_exists()
    before = snapshot(dataset, ["ground_truth"])
    with pytest.raises(errors.AnnotationBackendError) as raised:
        dataset.load_annotations("gone")
    assert isinstance(raised.value, errors.ProjectDeletedError), repr(raised.value)
    assert snapshot(dataset, ["ground_truth"]) == before


def test_dest_field_string(service, dataset, media):
    """cvat test_dest_field (images): nothing done, loaded into another field:
    the same labels under the same ids, the source field untouched."""
    add_samples(dataset, media, 2, ground_truth=_boxes)
    before = snapshot(dataset, ["ground_truth"])
    dataset.annotate("dest", backend=service.name, label_field="ground_truth")
    dataset.load_annotations("dest", cleanup=True, dest_field="test_field")
    assert snapshot(dataset, ["ground_truth"]) == before
    assert ids(dataset, "test_field") == ids(dataset, "ground_truth")


def test_dest_field_dict(service, dataset, media):
    """cvat test_dest_field (dict): two fields redirected, one not."""
    add_samples(dataset, media, 2, ground_truth=_boxes)
    before = snapshot(dataset, ["ground_truth"])
    label_schema = {
        "ground_truth": {},
        "new_points": {"type": "keypoints", "classes": ["test"]},
        "new_polygon": {"type": "polygons", "classes": ["test2"]},
    }
    results = dataset.annotate("dest", backend=service.name, label_schema=label_schema)
    human = service.human(results)
    doc = human.open(dataset.first().id)
    doc.add_points("new_points", "test", [[0.1, 0.2], [0.4, 0.3], [0.5, 0.6]])
    doc.add_polygon("new_polygon", "test2", [[0.1, 0.2], [0.4, 0.3], [0.5, 0.6]])
    human.submit(doc)

    dataset.load_annotations(
        "dest", cleanup=True, dest_field={"ground_truth": "test_field_1", "new_points": "test_field_2"}
    )
    assert not dataset.has_sample_field("new_points")
    assert dataset.has_sample_field("new_polygon")
    assert dataset.has_sample_field("test_field_1") and dataset.has_sample_field("test_field_2")
    assert snapshot(dataset, ["ground_truth"]) == before
    assert ids(dataset, "test_field_1") == ids(dataset, "ground_truth")
    assert len(ids(dataset, "new_polygon")) == 1
    # the three points of one object: one Keypoint
    assert len(ids(dataset, "test_field_2")) == 1


def test_dest_field_modification(service, dataset, media, no_prompt):
    """cvat test_dest_field (modification): a deletion and an addition land in
    the destination field; the source field keeps every label."""
    add_samples(dataset, media, 2, ground_truth=_boxes)
    previous_ids = ids(dataset, "ground_truth")
    results = dataset.annotate("dest", backend=service.name, label_field="ground_truth")
    human = service.human(results)
    deleted = dataset.first().ground_truth.detections[0].id
    doc = human.open(dataset.first().id)
    doc.delete("ground_truth", deleted)
    doc.add_box("ground_truth", "dog", [0.6, 0.1, 0.2, 0.2])
    human.submit(doc)

    dataset.load_annotations("dest", cleanup=True, dest_field="test_field", unexpected="keep")
    assert ids(dataset, "ground_truth") == previous_ids
    test_ids = ids(dataset, "test_field")
    assert len(set(test_ids) - set(previous_ids)) == 1
    assert set(previous_ids) - set(test_ids) == {deleted}


@pytest.mark.parametrize("unexpected", ["ignore", "keep", "return"])
def test_unexpected(service, dataset, media, no_prompt, unexpected):
    """A point drawn in a detections field (where the service lets a person
    draw one) is a label of an unexpected type: ignored, kept in a field of
    its type, or returned, never prompted for; the field's own work merges."""
    add_samples(dataset, media, 1, ground_truth=lambda i: detections(box("cat", [0.1, 0.1, 0.2, 0.2])))
    results = dataset.annotate("unexpected", backend=service.name, label_field="ground_truth")
    human = service.human(results)
    sample = dataset.first()
    doc = human.open(sample.id)
    doc.add_box("ground_truth", "cat", [0.5, 0.5, 0.2, 0.2])
    if human.can_draw_foreign_types:
        doc.add_foreign_point("ground_truth", "cat", [0.3, 0.4])
    human.submit(doc)

    returned = dataset.load_annotations("unexpected", unexpected=unexpected)
    assert len(dataset.first().ground_truth.detections) == 2
    foreign = human.can_draw_foreign_types
    kept = foreign and unexpected == "keep"
    assert dataset.has_sample_field("keypoints") == kept
    if kept:
        (point,) = dataset.first().keypoints.keypoints
        assert point.label == "cat" and np.allclose(point.points, [[0.3, 0.4]], atol=1e-6)
    if foreign and unexpected == "return":
        assert set(returned) == {"ground_truth"} and set(returned["ground_truth"]) == {"keypoints"}
        (labels,) = returned["ground_truth"]["keypoints"].values()
        (point,) = labels.values()
        assert isinstance(point, fol.Keypoint) and point.label == "cat"
        assert np.allclose(point.points, [[0.3, 0.4]], atol=1e-6)
        assert list(returned["ground_truth"]["keypoints"]) == [sample.id]
    else:
        assert returned is None


def test_erased_segmentation(service, dataset, media):
    """A person removes every region of an uploaded segmentation and submits:
    it comes back as an all-zero mask under the same label id."""
    mask = rect_mask((10, 10, 50, 40), value=1)
    mask[60:80, 70:100] = 2
    add_samples(dataset, media, 2, seg=lambda i: fol.Segmentation(mask=mask))
    before = snapshot(dataset, ["seg"])
    results = dataset.annotate(
        "erase", backend=service.name, label_field="seg", label_type="segmentation", mask_targets={1: "sky", 2: "road"}
    )
    human = service.human(results)
    first = dataset.first()
    seg_id = first.seg.id
    doc = human.open(first.id)
    assert doc.classes("seg") == ["road", "sky"]
    doc.clear("seg")
    human.submit(doc)

    dataset.load_annotations("erase")
    first.reload()
    assert first.seg is not None and first.seg.id == seg_id
    erased = np.asarray(first.seg.get_mask())
    assert erased.shape == mask.shape and not erased.any()
    assert snapshot(dataset, ["seg"])[dataset.last().id] == before[dataset.last().id]


def test_deleted_label_field(service, dataset, media):
    """cvat test_deleted_label_field: the field is deleted from the dataset
    after the upload; the labels the person submitted come back under their
    ids; a scalar field deleted the same way loads without error."""
    add_samples(dataset, media, 2, ground_truth=_boxes)
    dataset.set_values("uniqueness", [0.25, 0.5])
    content = lambda value: sorted((d.label, [round(v, 6) for v in d.bounding_box]) for d in value.detections)  # noqa: E731
    first_ids = sorted(d.id for d in dataset.first().ground_truth.detections)
    first = content(dataset.first().ground_truth)
    view = dataset.select_fields("ground_truth")
    results = view.annotate("deleted_field", backend=service.name, label_field="ground_truth")
    human = service.human(results)
    human.accept(dataset.first().id)
    dataset.delete_sample_field("ground_truth")
    dataset.reload()
    view = dataset.select_fields("uniqueness")
    view.annotate("deleted_scalar", backend=service.name, label_field="uniqueness")
    dataset.delete_sample_field("uniqueness")
    dataset.reload()

    dataset.load_annotations("deleted_scalar", cleanup=True)
    assert not dataset.has_sample_field("uniqueness")
    dataset.load_annotations("deleted_field", cleanup=True)
    # differs from the built-in: an item nobody worked on leaves its sample as it is (CVAT's reloads the upload)
    assert dataset.last().ground_truth is None
    assert content(dataset.first().ground_truth) == first
    # under the ids they were uploaded with
    assert sorted(d.id for d in dataset.first().ground_truth.detections) == first_ids
