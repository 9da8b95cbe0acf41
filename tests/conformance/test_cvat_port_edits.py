"""The backend-independent scenarios of FiftyOne's ``tests/intensive/cvat_tests.py``
about what a person changes, ported to every backend: edits, deletions and
additions by label id for every spatial type, attributes, the ``allow_*``
restrictions, existing and new fields, several fields at once, keypoints,
masks (instances, segmentation with mask targets)."""

import fiftyone.core.labels as fol
import numpy as np
import pytest
from fiftyone import ViewField as F

from .helpers import (
    HEIGHT,
    WIDTH,
    add_samples,
    box,
    box_tolerance,
    by_id,
    comparable,
    detections,
    ids,
    labels_of,
    rect_mask,
    snapshot,
)

pytestmark = pytest.mark.integration


def _two_people(i):
    return detections(
        box("person", [0.1, 0.1, 0.2, 0.3]), box("person", [0.5, 0.4, 0.25, 0.3]), box("car", [0.05, 0.6, 0.3, 0.2])
    )


def test_detection_labelling(service, dataset, media):
    """cvat test_detection_labelling: one deleted, one added, one attribute set."""
    add_samples(dataset, media, 2, ground_truth=_two_people)
    before = snapshot(dataset, ["ground_truth"])
    previous_ids = ids(dataset, "ground_truth")
    results = dataset.annotate(
        "labelling", backend=service.name, label_field="ground_truth", attributes={"test": {"type": "text"}}
    )
    human = service.human(results)
    sample = dataset.first()
    deleted_id, updated_id = sample.ground_truth.detections[0].id, sample.ground_truth.detections[1].id
    doc = human.open(sample.id)
    doc.delete("ground_truth", deleted_id)
    doc.add_box("ground_truth", "person", [0.6, 0.05, 0.2, 0.2])
    doc.edit("ground_truth", updated_id, attributes={"test": "1"})
    human.submit(doc)

    dataset.load_annotations("labelling", cleanup=True)
    label_ids = ids(dataset, "ground_truth")
    assert len(label_ids) == len(previous_ids)
    assert len(set(label_ids) - set(previous_ids)) == 1
    assert set(previous_ids) - set(label_ids) == {deleted_id}
    updated = by_id(dataset.first().ground_truth)[updated_id]
    # differs from the built-in: a text attribute stays text ("1"); CVAT's casts numeric text to int (lossy: "007")
    assert updated.test == "1"
    # everything else is as it was (the new attribute unset)
    after = snapshot(dataset, ["ground_truth"])
    for sample_id, row in before.items():
        for label in row["ground_truth"]:
            if label["id"] in (deleted_id, updated_id):
                continue
            assert label in after[sample_id]["ground_truth"]
    assert [d.get_attribute_value("test", None) for d in dataset.last().ground_truth.detections] == [None] * 3


def test_everything_deleted(service, dataset, media):
    """A person removes every label of a sample and submits ("nothing here"):
    the sample loses them; an untouched sample keeps its own."""
    add_samples(dataset, media, 2, ground_truth=_two_people)
    before = snapshot(dataset, ["ground_truth"])
    results = dataset.annotate("empty", backend=service.name, label_field="ground_truth", classes=["person", "car"])
    human = service.human(results)
    doc = human.open(dataset.first().id)
    doc.clear("ground_truth")
    human.submit(doc)

    dataset.load_annotations("empty")
    assert labels_of(dataset.first().ground_truth) == []
    assert snapshot(dataset, ["ground_truth"])[dataset.last().id] == before[dataset.last().id]


NAN = float("nan")

# label type -> (existing labels of a sample, the edits, what they come back as)
EDIT_CASES = {
    "detections": dict(
        labels=lambda: fol.Detections(
            detections=[
                fol.Detection(label="a", bounding_box=[0.1, 0.1, 0.2, 0.2]),
                fol.Detection(label="b", bounding_box=[0.5, 0.5, 0.3, 0.3]),
            ]
        ),
        edit=dict(label="b", bounding_box=[0.2, 0.25, 0.3, 0.4]),
        add=lambda d, f: d.add_box(f, "a", [0.6, 0.1, 0.2, 0.1]),
        edited=dict(label="b", bounding_box=[0.2, 0.25, 0.3, 0.4]),
        added=dict(label="a", bounding_box=[0.6, 0.1, 0.2, 0.1]),
    ),
    "polygons": dict(
        labels=lambda: fol.Polylines(
            polylines=[
                fol.Polyline(label="a", points=[[[0.1, 0.1], [0.3, 0.1], [0.2, 0.3]]], closed=True, filled=True),
                fol.Polyline(label="b", points=[[[0.5, 0.5], [0.9, 0.5], [0.7, 0.9]]], closed=True, filled=True),
            ]
        ),
        edit=dict(label="b", points=[[0.15, 0.1], [0.35, 0.15], [0.25, 0.35], [0.1, 0.3]]),
        add=lambda d, f: d.add_polygon(f, "a", [[0.6, 0.1], [0.8, 0.1], [0.7, 0.3]]),
        edited=dict(
            label="b", points=[[[0.15, 0.1], [0.35, 0.15], [0.25, 0.35], [0.1, 0.3]]], closed=True, filled=True
        ),
        added=dict(label="a", points=[[[0.6, 0.1], [0.8, 0.1], [0.7, 0.3]]], closed=True, filled=True),
    ),
    "polylines": dict(
        labels=lambda: fol.Polylines(
            polylines=[
                fol.Polyline(label="a", points=[[[0.1, 0.1], [0.3, 0.1], [0.2, 0.3]]], closed=False, filled=False),
                fol.Polyline(label="b", points=[[[0.5, 0.5], [0.9, 0.5], [0.7, 0.9]]], closed=False, filled=False),
            ]
        ),
        edit=dict(label="b", points=[[0.15, 0.1], [0.35, 0.15], [0.25, 0.35]]),
        add=lambda d, f: d.add_polygon(f, "a", [[0.6, 0.1], [0.8, 0.1], [0.7, 0.3]]),
        # an edited line keeps its flags; a new one is what the tool draws
        edited=dict(label="b", points=[[[0.15, 0.1], [0.35, 0.15], [0.25, 0.35]]], closed=False, filled=False),
        added=dict(label="a", points=[[[0.6, 0.1], [0.8, 0.1], [0.7, 0.3]]]),
    ),
    "keypoints": dict(
        labels=lambda: fol.Keypoints(
            keypoints=[
                fol.Keypoint(label="a", points=[[0.1, 0.1], [NAN, NAN], [0.3, 0.3]]),
                fol.Keypoint(label="b", points=[[0.5, 0.5], [NAN, NAN], [0.6, 0.6]]),
            ]
        ),
        # a missing point stays missing, at its index
        edit=dict(label="b", points=[[0.55, 0.45], [NAN, NAN], [0.65, 0.7]]),
        add=lambda d, f: d.add_points(f, "a", [[0.7, 0.1], [0.8, 0.2], [0.9, 0.1]]),
        edited=dict(label="b", points=[[0.55, 0.45], [NAN, NAN], [0.65, 0.7]]),
        added=dict(label="a", points=[[0.7, 0.1], [0.8, 0.2], [0.9, 0.1]]),
    ),
}


@pytest.mark.parametrize("label_type", list(EDIT_CASES))
def test_edits_deletions_additions_in_existing_and_new_fields(service, dataset, media, label_type):
    """In one run: an existing field (its labels edited by id, one deleted,
    one added) and a new field of the same type (one added); the other sample
    untouched."""
    case = EDIT_CASES[label_type]
    add_samples(dataset, media, 2, old=lambda i: case["labels"]())
    before = snapshot(dataset, ["old"])
    schema = {
        "old": {"type": label_type, "classes": ["a", "b"]},
        "new": {"type": label_type, "classes": ["a", "b"]},
    }
    results = dataset.annotate("edits", backend=service.name, label_schema=schema)
    assert not any(results.id_map["new"].values())  # nothing uploaded for the new field
    human = service.human(results)
    sample = dataset.first()
    first, second = labels_of(sample.old)
    doc = human.open(sample.id)
    assert doc.label_ids("old") == {first.id, second.id}
    assert doc.label_ids("new") == set()
    doc.delete("old", first.id)
    doc.edit("old", second.id, **case["edit"])
    case["add"](doc, "old")
    case["add"](doc, "new")
    human.submit(doc)

    dataset.load_annotations("edits")
    sample.reload()
    old = by_id(sample.old)
    assert first.id not in old and second.id in old
    assert len(old) == 2
    (added_id,) = set(old) - {second.id}
    _check(old[second.id], case["edited"], human, label_type)
    _check(old[added_id], case["added"], human, label_type)
    (new_label,) = labels_of(sample.new)
    _check(new_label, case["added"], human, label_type)
    assert new_label.id != added_id
    # the untouched sample is exactly as it was
    assert snapshot(dataset, ["old"])[dataset.last().id] == before[dataset.last().id]


def _check(label, want, human, label_type):
    assert label.label == want["label"]
    if "bounding_box" in want:
        assert label.bounding_box == pytest.approx(want["bounding_box"], abs=box_tolerance(human))
    if label_type == "keypoints":
        assert np.allclose(np.asarray(label.points, float), want["points"], atol=1e-6, equal_nan=True)
    elif "points" in want:
        assert len(label.points) == len(want["points"])
        for shape, expected in zip(label.points, want["points"]):
            assert np.allclose(shape, expected, atol=1e-6)
        closed = want.get("closed", human.polylines_closed)
        assert (bool(label.closed), bool(label.filled)) == (closed, want.get("filled", closed))


ATTRIBUTES = {
    "pose": {"type": "select", "values": ["front", "side", "back"], "default": "front"},
    "mood": {"type": "radio", "values": ["calm", "angry"]},
    "occluded": {"type": "checkbox"},
    "note": {"type": "text"},
}


def test_attributes(service, dataset, media):
    """select/radio/checkbox/text attributes of regions and of a
    classification: edited, kept, and defaults for a new label."""
    add_samples(
        dataset,
        media,
        1,
        gt=lambda i: detections(
            box("cat", [0.1, 0.1, 0.2, 0.2], pose="side", mood="calm", occluded=True, note="first"),
            box("dog", [0.5, 0.5, 0.2, 0.2], pose="back", mood="angry", occluded=False, note="second"),
        ),
        weather=lambda i: fol.Classification(label="sunny", mood="calm"),
    )
    schema = {
        "gt": {"type": "detections", "classes": ["cat", "dog"], "attributes": ATTRIBUTES},
        "weather": {
            "type": "classification",
            "classes": ["sunny", "rainy"],
            "attributes": {"mood": ATTRIBUTES["mood"]},
        },
    }
    results = dataset.annotate("attrs", backend=service.name, label_schema=schema)
    human = service.human(results)
    sample = dataset.first()
    cat, dog = sample.gt.detections
    weather_id = sample.weather.id
    doc = human.open(sample.id)
    doc.edit("gt", cat.id, attributes={"pose": "back", "mood": "angry", "occluded": False, "note": "edited"})
    doc.add_box("gt", "dog", [0.7, 0.1, 0.2, 0.2])
    doc.set_classes("weather", ["rainy"], attributes={"mood": "angry"})
    human.submit(doc)

    dataset.load_annotations("attrs")
    sample.reload()
    labels = by_id(sample.gt)
    names = list(ATTRIBUTES)
    values = lambda label: tuple(label.get_attribute_value(n, None) for n in names)  # noqa: E731
    assert values(labels[cat.id]) == ("back", "angry", False, "edited")
    assert values(labels[dog.id]) == ("back", "angry", False, "second")
    (new_id,) = set(labels) - {cat.id, dog.id}
    # a new label gets the schema defaults (an unset checkbox is False)
    assert values(labels[new_id]) == ("front", None, False, None)
    assert (sample.weather.id, sample.weather.label, sample.weather.mood) == (weather_id, "rainy", "angry")


def test_example_restricting_label_edits(service, dataset, media):
    """cvat test_example_restricting_label_edits: every ``allow_*`` False;
    only the attribute edit goes through."""
    add_samples(
        dataset,
        media,
        1,
        ground_truth=lambda i: detections(box("person", [0.1, 0.1, 0.2, 0.3]), box("person", [0.5, 0.4, 0.25, 0.3])),
    )
    previous = [comparable(d) for d in dataset.first().ground_truth.detections]
    attributes = {"sex": {"type": "select", "values": ["male", "female"]}, "age": {"type": "text"}}
    results = dataset.annotate(
        "restricted",
        backend=service.name,
        label_field="ground_truth",
        classes=["person", "test"],
        attributes=attributes,
        allow_additions=False,
        allow_deletions=False,
        allow_label_edits=False,
        allow_spatial_edits=False,
    )
    human = service.human(results)
    sample = dataset.first()
    deleted, edited = sample.ground_truth.detections
    doc = human.open(sample.id)
    doc.delete("ground_truth", deleted.id)
    doc.add_box("ground_truth", "person", [0.7, 0.7, 0.2, 0.2])
    doc.edit("ground_truth", edited.id, label="test", bounding_box=[0.1, 0.2, 0.3, 0.4], attributes={"sex": "male"})
    human.submit(doc)

    dataset.load_annotations("restricted", cleanup=True)
    labels = dataset.first().ground_truth.detections
    assert [comparable(d) for d in labels] == previous
    assert len(dataset.filter_labels("ground_truth", F("sex") == "male")) == 1
    assert by_id(dataset.first().ground_truth)[edited.id].sex == "male"


def test_each_restriction_alone(service, dataset, media):
    """One field per ``allow_*`` flag set to False, the same work on each: a
    deletion, a class and box edit, an addition."""
    flags = ("allow_additions", "allow_deletions", "allow_label_edits", "allow_spatial_edits")
    two = lambda i: detections(box("a", [0.1, 0.1, 0.2, 0.2]), box("a", [0.5, 0.5, 0.2, 0.2]))  # noqa: E731
    add_samples(dataset, media, 1, **{flag: two for flag in flags})
    schema = {flag: {"type": "detections", "classes": ["a", "b"], flag: False} for flag in flags}
    results = dataset.annotate("flags", backend=service.name, label_schema=schema)
    human = service.human(results)
    sample = dataset.first()
    before = {flag: [d.id for d in sample[flag].detections] for flag in flags}
    doc = human.open(sample.id)
    for flag in flags:
        deleted, edited = sample[flag].detections
        doc.delete(flag, deleted.id)
        doc.edit(flag, edited.id, label="b", bounding_box=[0.4, 0.3, 0.3, 0.3])
        doc.add_box(flag, "b", [0.7, 0.7, 0.1, 0.1])
    human.submit(doc)

    dataset.load_annotations("flags")
    after = dataset.first()
    for flag in flags:
        deleted_id, edited_id = before[flag]
        got = by_id(after[flag])
        assert (deleted_id in got) == (flag == "allow_deletions"), flag
        assert len(got) == 2 + (flag == "allow_deletions") - (flag == "allow_additions"), flag
        assert got[edited_id].label == ("a" if flag == "allow_label_edits" else "b"), flag
        box_now = [0.5, 0.5, 0.2, 0.2] if flag == "allow_spatial_edits" else [0.4, 0.3, 0.3, 0.3]
        assert got[edited_id].bounding_box == pytest.approx(box_now, abs=box_tolerance(human)), flag


def _instance_mask():
    mask = np.ones((8, 10), dtype=bool)
    mask[2:5, 3:6] = False  # a hole
    return mask


def _segmentation():
    mask = rect_mask((0, 0, 40, 30), value=1)
    mask[50:80, 60:100] = 2
    return mask


def test_multiple_fields(service, dataset, media):
    """cvat test_multiple_fields: detections, instances and classifications in
    one run; accepted (first sample) or untouched (second): ids, classes,
    boxes and masks come back the same."""
    add_samples(
        dataset,
        media,
        2,
        detections=lambda i: detections(box("Person", [0.1, 0.1, 0.2, 0.3]), box("Person", [0.5, 0.2, 0.2, 0.2])),
        segmentations=lambda i: detections(box("Person", [0.2, 0.25, 0.1, 0.1], mask=_instance_mask())),
        positive_labels=lambda i: fol.Classifications(classifications=[fol.Classification(label="Person")]),
    )
    fields = ["detections", "segmentations", "positive_labels"]
    before = snapshot(dataset, fields)
    label_schema = {"detections": {}, "segmentations": {"type": "instances"}, "positive_labels": {}}
    results = dataset.annotate("multi", backend=service.name, label_schema=label_schema, classes=["Person"])
    human = service.human(results)
    human.accept(dataset.first().id)

    dataset.load_annotations("multi", cleanup=True)
    assert snapshot(dataset, fields) == before


def test_masks_instances_and_segmentation(service, dataset, media):
    """mask_targets applied both ways; a region added to a segmentation, an
    instance added (box and mask rebuilt from its region), the rest as it was."""
    add_samples(
        dataset,
        media,
        1,
        objects=lambda i: detections(box("blob", [0.1, 0.125, 0.1, 0.1], mask=_instance_mask())),
        seg=lambda i: fol.Segmentation(mask=_segmentation()),
    )
    schema = {
        "objects": {"type": "instances", "classes": ["blob", "other"]},
        "seg": {"type": "segmentation", "mask_targets": {1: "sky", 2: "road & curb", 3: "tree"}},
    }
    results = dataset.annotate("masks", backend=service.name, label_schema=schema)
    human = service.human(results)
    sample = dataset.first()
    blob = comparable(sample.objects.detections[0])
    seg_id = sample.seg.id
    doc = human.open(sample.id)
    assert doc.classes("seg") == ["road & curb", "sky"]
    doc.add_mask("seg", "tree", (50, 5, 70, 25))
    doc.add_mask("objects", "other", (70, 40, 90, 70))
    human.submit(doc)

    dataset.load_annotations("masks")
    sample.reload()
    expected = _segmentation()
    expected[5:25, 50:70] = 3
    assert sample.seg.id == seg_id
    assert np.array_equal(sample.seg.get_mask(), expected)
    objects = by_id(sample.objects)
    assert comparable(objects[blob["id"]]) == blob
    (new_id,) = set(objects) - {blob["id"]}
    added = objects[new_id]
    assert added.label == "other"
    assert added.bounding_box == pytest.approx([70 / WIDTH, 40 / HEIGHT, 20 / WIDTH, 30 / HEIGHT], abs=1e-6)
    assert np.array_equal(np.asarray(added.get_mask()).astype(bool), np.ones((30, 20), dtype=bool))


def test_map_view_stage(service, dataset, media):
    """cvat test_map_view_stage: a view that maps classes is annotated; the
    mapped classes go up, an accepted label takes its mapped class, a new
    label keeps the class it was drawn with."""
    add_samples(
        dataset,
        media,
        1,
        ground_truth=lambda i: detections(box("CAT", [0.1, 0.1, 0.2, 0.2]), box("dog", [0.5, 0.5, 0.2, 0.2])),
    )
    previous_ids = [d.id for d in dataset.first().ground_truth.detections]
    labels = dataset.distinct("ground_truth.detections.label")
    view = dataset.map_labels("ground_truth", {label: label.upper() for label in labels})
    results = view.annotate("mapped", backend=service.name, label_field="ground_truth")
    human = service.human(results)
    doc = human.open(dataset.first().id)
    assert doc.label_ids("ground_truth") == set(previous_ids)
    assert doc.classes("ground_truth") == ["CAT", "DOG"]
    doc.add_box("ground_truth", labels[0].upper(), [0.7, 0.1, 0.2, 0.2])
    doc.delete("ground_truth", previous_ids[0])
    human.submit(doc)

    dataset.load_annotations("mapped", cleanup=True)
    loaded = by_id(dataset.first().ground_truth)
    assert len(loaded) == len(previous_ids)
    assert loaded[previous_ids[1]].label == "DOG"  # updated by the mapping
    (new_id,) = set(loaded) - set(previous_ids)
    assert loaded[new_id].label == "CAT"
