"""Masks, label attributes and scalar fields through a Picsellia run:
annotate -> a person edits in Picsellia (the simulated annotator, over the
REST API) -> load_annotations, against the emulator. Instances and semantic
segmentations travel as full-image COCO RLE masks and come back to the exact
pixel; label attributes are shape attributes and scalar fields image-level
attributes, both under the version's attribute definitions."""

import fiftyone as fo
import fiftyone.core.labels as fol
import numpy as np
import pytest
from dataset_helpers import add_images, dets

from fo_annotation_backends.picsellia import rle

pytestmark = pytest.mark.integration

WIDTH, HEIGHT = 80, 60


def _full(*boxes, holes=()):
    """A full-image mask: the union of pixel boxes ``(x0, y0, x1, y1)`` (end
    exclusive), minus the ``holes`` (pixels ``(x, y)``)."""
    mask = np.zeros((HEIGHT, WIDTH), bool)
    for x0, y0, x1, y1 in boxes:
        mask[y0:y1, x0:x1] = True
    for x, y in holes:
        mask[y, x] = False
    return mask


def _decoded(shape):
    return rle.decode(shape["mask"], HEIGHT, WIDTH)


# --------------------------------------------------------------------------
# instances


def _instances(i):
    # a triangle in the cat's 20 x 15 box (tight: its first row and column are set), the dog's box full
    cat = np.tril(np.ones((15, 20), bool), k=5)
    cat[0, :] = True
    dog = np.ones((15, 20), bool)
    return fol.Detections(
        detections=[
            fol.Detection(label="cat", bounding_box=[0.1, 0.1, 0.25, 0.25], mask=cat),
            fol.Detection(label="dog", bounding_box=[0.5, 0.5, 0.25, 0.25], mask=dog),
        ]
    )


def test_instance_masks_are_edited_added_and_deleted_to_the_pixel(
    picsellia_dataset, picsellia_backend, picsellia_annotator, picsellia_emulator, tmp_path
):
    dataset = picsellia_dataset
    add_images(dataset, str(tmp_path), 2, width=WIDTH, height=HEIGHT, inst=_instances)
    schema = {"inst": {"type": "instances", "classes": ["cat", "dog"]}}
    results = dataset.annotate("inst", backend=picsellia_backend, label_schema=schema)
    assert picsellia_emulator.state.versions[results.version_id]["type"] == "MASK"
    edited_sample, accepted_sample = list(dataset)
    cat, dog = edited_sample.inst.detections
    version = results.version_id

    sent = picsellia_annotator.open(version, results.asset_ids[edited_sample.id])
    by_text = {m["text"]: m for m in sent["masks"]}
    assert set(by_text) == {cat.id, dog.id} and by_text[cat.id]["label"] == "cat"
    expected_cat = np.zeros((HEIGHT, WIDTH), bool)
    expected_cat[6:21, 8:28] = cat.mask
    assert np.array_equal(_decoded(by_text[cat.id]), expected_cat)  # pasted at its box, exactly
    assert np.array_equal(_decoded(by_text[dog.id]), _full((40, 30, 60, 45)))
    assert by_text[dog.id]["area"] == 300 and by_text[dog.id]["bbox"] == [40, 30, 20, 15]

    moved = _full((5, 10, 30, 20), holes=[(7, 12), (29, 19)])
    added = _full((50, 40, 70, 50), (60, 50, 62, 55))
    picsellia_annotator.annotate(
        version,
        results.asset_ids[edited_sample.id],
        {
            "masks": [
                dict(by_text[cat.id], mask=rle.encode(moved)),  # the cat redrawn; the dog deleted
                {"label": "dog", "mask": rle.encode(added)},
            ]
        },
    )
    opened = picsellia_annotator.open(version, results.asset_ids[accepted_sample.id])
    picsellia_annotator.set_status(opened["id"], "ACCEPTED")  # accepted as it was sent
    before_accepted = {d.id: (d.label, d.bounding_box, d.mask.copy()) for d in accepted_sample.inst.detections}

    dataset.load_annotations("inst")
    edited_sample.reload()
    accepted_sample.reload()
    labels = {d.id: d for d in edited_sample.inst.detections}
    assert dog.id not in labels
    assert labels[cat.id].label == "cat"
    assert labels[cat.id].bounding_box == pytest.approx([5 / 80, 10 / 60, 25 / 80, 10 / 60])
    assert np.array_equal(labels[cat.id].mask, moved[10:20, 5:30])
    (new_id,) = set(labels) - {cat.id}
    new = labels[new_id]
    assert new.label == "dog" and new.bounding_box == pytest.approx([50 / 80, 40 / 60, 20 / 80, 15 / 60])
    assert np.array_equal(new.mask, added[40:55, 50:70])
    assert results.new_label_ids and new_id in results.new_label_ids.values()
    after = {d.id: d for d in accepted_sample.inst.detections}
    assert set(after) == set(before_accepted)
    for label_id, (label, box, mask) in before_accepted.items():
        assert after[label_id].label == label and after[label_id].bounding_box == pytest.approx(box)
        assert np.array_equal(after[label_id].mask, mask)


def test_an_instance_accepted_as_sent_keeps_its_own_box_and_mask(
    picsellia_dataset, picsellia_backend, picsellia_annotator, tmp_path
):
    # a box off the pixel grid, with empty margins in its mask: rebuilt from its pixels it would move and shrink
    mask = np.zeros((9, 16), bool)
    mask[2:7, 3:12] = True
    box = [0.1234, 0.1171, 0.2, 0.15]
    add_images(
        picsellia_dataset,
        str(tmp_path),
        1,
        width=WIDTH,
        height=HEIGHT,
        inst=lambda i: fol.Detections(detections=[fol.Detection(label="cat", bounding_box=box, mask=mask)]),
    )
    results = picsellia_dataset.annotate(
        "exact", backend=picsellia_backend, label_schema={"inst": {"type": "instances", "classes": ["cat"]}}
    )
    sample = picsellia_dataset.first()
    opened = picsellia_annotator.open(results.version_id, results.asset_ids[sample.id])
    picsellia_annotator.set_status(opened["id"], "ACCEPTED")
    (before,) = sample.inst.detections
    picsellia_dataset.load_annotations("exact")
    sample.reload()
    (after,) = sample.inst.detections
    assert after.id == before.id and after.bounding_box == box
    assert np.array_equal(after.mask, mask)


# --------------------------------------------------------------------------
# semantic segmentation

TARGETS = {1: "road", 2: "car", 3: "sky"}


def _segmentation(i):
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    mask[40:, :] = 1  # road
    mask[30:38, 10:30] = 2  # car
    return fol.Segmentation(mask=mask)


def test_a_segmentation_is_edited_by_class_to_the_pixel_under_its_id(
    picsellia_dataset, picsellia_backend, picsellia_annotator, picsellia_emulator, tmp_path
):
    dataset = picsellia_dataset
    add_images(dataset, str(tmp_path), 2, width=WIDTH, height=HEIGHT, seg=_segmentation)
    schema = {"seg": {"type": "segmentation", "mask_targets": TARGETS}}
    results = dataset.annotate("seg", backend=picsellia_backend, label_schema=schema)
    version = results.version_id
    edited_sample, untouched_sample = list(dataset)
    seg_id = edited_sample.seg.id
    original = edited_sample.seg.mask.copy()

    sent = picsellia_annotator.open(version, results.asset_ids[edited_sample.id])
    by_label = {m["label"]: m for m in sent["masks"]}
    assert set(by_label) == {"road", "car"}  # one mask per class the segmentation holds
    assert by_label["road"]["text"].startswith(seg_id) and by_label["car"]["text"].startswith(seg_id)
    assert np.array_equal(_decoded(by_label["road"]), original == 1)
    assert np.array_equal(_decoded(by_label["car"]), original == 2)

    car = _full((40, 20, 60, 30), holes=[(41, 21)])
    sky = _full((0, 0, 80, 10))
    picsellia_annotator.annotate(
        version,
        results.asset_ids[edited_sample.id],
        {"masks": [dict(by_label["car"], mask=rle.encode(car)), {"label": "sky", "mask": rle.encode(sky)}]},
    )  # the car moved, the road deleted, the sky added

    dataset.load_annotations("seg")
    edited_sample.reload()
    untouched_sample.reload()
    expected = np.zeros((HEIGHT, WIDTH), np.uint8)
    expected[car] = 2
    expected[sky] = 3
    assert edited_sample.seg.id == seg_id
    assert edited_sample.seg.mask.dtype == np.uint8 and np.array_equal(edited_sample.seg.mask, expected)
    assert np.array_equal(untouched_sample.seg.mask, _segmentation(1).mask)  # never opened: as it was


# --------------------------------------------------------------------------
# label attributes

ATTRIBUTES = {
    "color": {"type": "select", "values": ["red", "blue"]},
    "rank": {"type": "radio", "values": [1, 2, 3]},
    "occluded": {"type": "checkbox"},
    "note": {"type": "text"},
}
ATTR_SCHEMA = {"gt": {"type": "detections", "classes": ["cat", "dog"], "attributes": ATTRIBUTES}}


def _with_attributes(i):
    return dets(
        ("cat", [0.1, 0.1, 0.2, 0.2], {"color": "red", "rank": 1, "occluded": False, "note": "hi"}),
        ("dog", [0.5, 0.5, 0.25, 0.25], {"color": "blue", "rank": 2, "occluded": True, "note": "there"}),
    )


def test_label_attributes_are_version_definitions_and_come_back_typed(
    picsellia_dataset, picsellia_backend, picsellia_annotator, picsellia_emulator, tmp_path
):
    dataset = picsellia_dataset
    add_images(dataset, str(tmp_path), 2, width=WIDTH, height=HEIGHT, gt=_with_attributes)
    results = dataset.annotate("attrs", backend=picsellia_backend, label_schema=ATTR_SCHEMA)
    version = results.version_id
    config = picsellia_annotator.attributes(version)
    assert {name: (c["input_type"], c["choices"]) for name, c in config.items()} == {
        "color": ("STRING", ["red", "blue"]),
        "rank": ("INTEGER", [1, 2, 3]),
        "occluded": ("BOOLEAN", None),
        "note": ("STRING", None),
    }
    edited_sample, untouched_sample = list(dataset)
    cat, dog = edited_sample.gt.detections
    sent = picsellia_annotator.open(version, results.asset_ids[edited_sample.id])
    by_text = {r["text"]: r for r in sent["rectangles"]}
    assert by_text[cat.id]["attributes"] == {"color": "red", "rank": 1, "occluded": False, "note": "hi"}
    assert by_text[dog.id]["attributes"] == {"color": "blue", "rank": 2, "occluded": True, "note": "there"}

    changed = {"color": "blue", "rank": 3, "occluded": True, "note": "edited"}
    added = {"label": "dog", "x": 40, "y": 6, "w": 16, "h": 12, "attributes": {"color": "red"}}
    picsellia_annotator.annotate(
        version,
        results.asset_ids[edited_sample.id],
        {"rectangles": [dict(by_text[cat.id], attributes=changed), dict(by_text[dog.id], attributes={}), added]},
    )

    dataset.load_annotations("attrs")
    edited_sample.reload()
    untouched_sample.reload()
    labels = {d.id: d for d in edited_sample.gt.detections}
    assert {a: labels[cat.id][a] for a in ATTRIBUTES} == changed
    assert isinstance(labels[cat.id]["rank"], int)
    # every attribute cleared: unset (a checkbox is False)
    assert {a: labels[dog.id][a] for a in ATTRIBUTES} == {"color": None, "rank": None, "occluded": False, "note": None}
    (new_id,) = set(labels) - {cat.id, dog.id}
    assert {a: labels[new_id][a] for a in ATTRIBUTES} == {
        "color": "red",
        "rank": None,
        "occluded": False,
        "note": None,
    }
    for label, original in zip(untouched_sample.gt.detections, _with_attributes(1).detections):
        assert {a: label[a] for a in ATTRIBUTES} == {a: original[a] for a in ATTRIBUTES}


# --------------------------------------------------------------------------
# scalar fields

SCALARS = {
    "count": {"type": "scalar"},
    "level": {"type": "scalar", "classes": ["1", "2", "3"]},  # FiftyOne's classes are strings
    "score": {"type": "scalar"},
    "quality": {"type": "scalar", "classes": ["good", "bad"]},
    "caption": {"type": "scalar"},
    "checked": {"type": "scalar", "classes": ["True", "False"]},
    "flagged": {"type": "scalar"},
    "rating": {"type": "scalar"},  # a new field: read back as numbers
}


def _scalars(i):
    return {"count": 3 + i, "level": 2, "score": 0.5, "quality": "good", "caption": "a cat", "checked": False}


def test_scalar_fields_are_image_level_attributes_typed_as_their_fields(
    picsellia_dataset, picsellia_backend, picsellia_annotator, picsellia_emulator, tmp_path
):
    dataset = picsellia_dataset
    add_images(dataset, str(tmp_path), 3, width=WIDTH, height=HEIGHT)
    for i, sample in enumerate(dataset.iter_samples(autosave=True)):
        sample.update_fields(_scalars(i))
        sample["flagged"] = i % 2 == 0
    results = dataset.annotate("scalars", backend=picsellia_backend, label_schema=SCALARS)
    version = results.version_id
    assert picsellia_emulator.state.versions[version]["type"] == "CLASSIFICATION"
    config = picsellia_annotator.attributes(version)
    assert {name: (c["input_type"], c["choices"]) for name, c in config.items()} == {
        "count": ("INTEGER", None),
        "level": ("INTEGER", [1, 2, 3]),
        "score": ("FLOAT", None),
        "quality": ("STRING", ["good", "bad"]),
        "caption": ("STRING", None),
        "checked": ("BOOLEAN", None),
        "flagged": ("BOOLEAN", None),
        "rating": ("FLOAT", None),
    }
    first, second, untouched = list(dataset)
    sent = picsellia_annotator.open(version, results.asset_ids[first.id])
    assert sent["attributes"] == dict(_scalars(0), flagged=True)  # typed; the new field has no value yet

    edited = {
        "count": 7,
        "level": 3,
        "score": 0.25,
        "quality": "bad",
        "caption": "two cats",
        "checked": True,
        "flagged": False,
        "rating": 4,
    }
    picsellia_annotator.annotate(version, results.asset_ids[first.id], {}, attributes=edited)
    sent = picsellia_annotator.open(version, results.asset_ids[second.id])
    picsellia_annotator.annotate(
        version, results.asset_ids[second.id], {}, attributes=dict(sent["attributes"], rating=2.5)
    )

    dataset.load_annotations("scalars")
    first.reload()
    second.reload()
    untouched.reload()
    assert {f: first[f] for f in SCALARS} == dict(edited, rating=4.0)
    for field, kind in (("count", int), ("level", int), ("score", float), ("checked", bool), ("rating", float)):
        assert type(first[field]) is kind, field
    assert {f: second[f] for f in SCALARS} == dict(_scalars(1), flagged=False, rating=2.5)
    assert {f: untouched[f] for f in SCALARS} == dict(_scalars(2), flagged=True, rating=None)
    assert isinstance(dataset.get_field("rating"), fo.FloatField)
