"""Every image label type, attributes and awkward class names, through a real
server: uploaded as pre-annotations, edited by a person, merged back."""

import math

import fiftyone.core.labels as fol
import numpy as np
import pytest
from ls_helpers import add_images, task_of

pytestmark = pytest.mark.integration

WEIRD = ["a < b", "R&D", 'say "hi"', "it's", "ünïcødé 猫", "two  spaces", "comma, here"]


def _by_from_name(result, name):
    return [r for r in result if r["from_name"] == name]


def test_awkward_class_names_round_trip(dataset, media_dir, backend, annotator):
    add_images(
        dataset,
        media_dir,
        1,
        gt=lambda i: fol.Detections(
            detections=[
                fol.Detection(label=name, bounding_box=[0.05 * k, 0.05 * k, 0.1, 0.1]) for k, name in enumerate(WEIRD)
            ]
        ),
        tag=lambda i: fol.Classification(label=WEIRD[0]),
    )
    schema = {
        "gt": {"type": "detections", "classes": WEIRD},
        "tag": {"type": "classification", "classes": WEIRD},
    }
    results = dataset.annotate("weird", backend=backend, label_schema=schema)
    sample = dataset.first()
    task = task_of(results, sample.id)
    result = annotator.prefilled_result(task)
    # the person relabels every box with the next awkward name
    for r in _by_from_name(result, "gt"):
        current = r["value"]["rectanglelabels"][0]
        r["value"]["rectanglelabels"] = [WEIRD[(WEIRD.index(current) + 1) % len(WEIRD)]]
    _by_from_name(result, "tag")[0]["value"]["choices"] = [WEIRD[4]]
    annotator.submit(task, result)
    dataset.load_annotations("weird")
    sample.reload()
    assert [d.label for d in sample.gt.detections] == WEIRD[1:] + WEIRD[:1]
    assert sample.tag.label == WEIRD[4]


def test_classification_and_classifications_with_attributes(dataset, media_dir, backend, annotator):
    add_images(
        dataset,
        media_dir,
        2,
        weather=lambda i: fol.Classification(label="sunny", confidence_level="high"),
        scene=lambda i: fol.Classifications(
            classifications=[fol.Classification(label="outdoor"), fol.Classification(label="day")]
        ),
    )
    schema = {
        "weather": {
            "type": "classification",
            "classes": ["sunny", "rainy"],
            "attributes": {"confidence_level": {"type": "radio", "values": ["low", "high"]}},
        },
        "scene": {"type": "classifications", "classes": ["outdoor", "indoor", "day", "night"]},
    }
    results = dataset.annotate("cls", backend=backend, label_schema=schema)
    first, second = list(dataset)
    weather_id = first.weather.id
    outdoor_id, day_id = [c.id for c in first.scene.classifications]

    task = task_of(results, first.id)
    result = annotator.prefilled_result(task)
    _by_from_name(result, "weather")[0]["value"]["choices"] = ["rainy"]
    _by_from_name(result, "weather__confidence_level")[0]["value"]["choices"] = ["low"]
    _by_from_name(result, "scene")[0]["value"]["choices"] = ["outdoor", "night"]
    annotator.submit(task, result)
    annotator.submit(task_of(results, second.id), annotator.prefilled_result(task_of(results, second.id)))

    dataset.load_annotations("cls")
    first.reload()
    second.reload()
    assert (first.weather.id, first.weather.label, first.weather.confidence_level) == (weather_id, "rainy", "low")
    tags = {c.label: c.id for c in first.scene.classifications}
    assert set(tags) == {"outdoor", "night"}
    assert tags["outdoor"] == outdoor_id  # kept by class
    assert day_id not in tags.values()  # deselected -> deleted
    assert (second.weather.label, second.weather.confidence_level) == ("sunny", "high")
    assert sorted(c.label for c in second.scene.classifications) == ["day", "outdoor"]


def test_polylines_polygons_and_keypoints_with_several_classes(dataset, media_dir, backend, annotator):
    nan = float("nan")
    add_images(
        dataset,
        media_dir,
        1,
        lines=lambda i: fol.Polylines(
            polylines=[
                fol.Polyline(
                    label="road",
                    points=[[(0.1, 0.1), (0.5, 0.1), (0.5, 0.5)], [(0.6, 0.6), (0.9, 0.9)]],
                    closed=False,
                    filled=False,
                )
            ]
        ),
        shapes=lambda i: fol.Polylines(
            polylines=[
                fol.Polyline(label="roof", points=[[(0.2, 0.2), (0.4, 0.2), (0.3, 0.4)]], closed=True, filled=True)
            ]
        ),
        points=lambda i: fol.Keypoints(
            keypoints=[
                fol.Keypoint(label="face", points=[(0.1, 0.2), (nan, nan), (0.3, 0.4)]),
                fol.Keypoint(label="hand", points=[(0.7, 0.7)]),
            ]
        ),
    )
    schema = {
        "lines": {"type": "polylines", "classes": ["road", "rail"]},
        "shapes": {"type": "polygons", "classes": ["roof", "wall"]},
        "points": {"type": "keypoints", "classes": ["face", "hand"]},
    }
    results = dataset.annotate("geom", backend=backend, label_schema=schema)
    sample = dataset.first()
    line_id = sample.lines.polylines[0].id
    face_id, hand_id = [k.id for k in sample.points.keypoints]
    task = task_of(results, sample.id)
    result = annotator.prefilled_result(task)
    assert {r["id"] for r in _by_from_name(result, "lines")} == {line_id, line_id + "_1"}
    assert {r["id"] for r in _by_from_name(result, "points")} == {face_id, face_id + "_2", hand_id}

    # move the second vertex of the line's first shape; relabel the roof
    first_shape = next(r for r in result if r["id"] == line_id)
    first_shape["value"]["points"][1] = [55.0, 15.0]
    _by_from_name(result, "shapes")[0]["value"]["polygonlabels"] = ["wall"]
    # move the face's third point, delete the hand, add a new hand point
    next(r for r in result if r["id"] == face_id + "_2")["value"].update(x=35.0, y=45.0)
    result = [r for r in result if r["id"] != hand_id]
    result.append(
        {
            "id": "kp_new",
            "from_name": "points",
            "to_name": "image",
            "type": "keypointlabels",
            "value": {"x": 80.0, "y": 20.0, "width": 0.75, "keypointlabels": ["hand"]},
        }
    )
    annotator.submit(task, result)
    dataset.load_annotations("geom")
    sample.reload()

    line = sample.lines.polylines[0]
    assert line.id == line_id and (line.closed, line.filled) == (False, False)
    assert np.allclose(line.points[0], [(0.1, 0.1), (0.55, 0.15), (0.5, 0.5)])
    assert np.allclose(line.points[1], [(0.6, 0.6), (0.9, 0.9)])
    roof = sample.shapes.polylines[0]
    assert (roof.label, roof.closed, roof.filled) == ("wall", True, True)
    keypoints = {k.label: k for k in sample.points.keypoints}
    face = keypoints["face"]
    assert face.id == face_id
    assert np.allclose(face.points[0], (0.1, 0.2)) and np.allclose(face.points[2], (0.35, 0.45))
    assert all(math.isnan(c) for c in face.points[1])  # a missing point keeps its index
    assert hand_id not in [k.id for k in sample.points.keypoints]
    assert np.allclose(keypoints["hand"].points, [(0.8, 0.2)])


def test_instances_and_segmentation_masks(dataset, media_dir, backend, annotator):
    width, height = 40, 30
    mask = np.zeros((height, width), dtype=np.uint8)
    mask[0:10, 0:20] = 1
    mask[15:30, 20:40] = 2
    instance_mask = np.ones((6, 8), dtype=bool)
    instance_mask[0, 0] = False
    add_images(
        dataset,
        media_dir,
        2,
        width=width,
        height=height,
        objects=lambda i: fol.Detections(
            detections=[fol.Detection(label="blob", bounding_box=[4 / 40, 3 / 30, 8 / 40, 6 / 30], mask=instance_mask)]
        ),
        seg=lambda i: fol.Segmentation(mask=mask),
    )
    schema = {
        "objects": {"type": "instances", "classes": ["blob", "other"]},
        "seg": {"type": "segmentation", "mask_targets": {1: "sky", 2: "road & curb", 3: "tree"}},
    }
    results = dataset.annotate("masks", backend=backend, label_schema=schema)
    sample = dataset.first()
    blob_id, seg_id = sample.objects.detections[0].id, sample.seg.id
    task = task_of(results, sample.id)
    result = annotator.prefilled_result(task)
    seg_regions = _by_from_name(result, "seg")
    assert sorted(r["value"]["brushlabels"][0] for r in seg_regions) == ["road & curb", "sky"]
    # the person relabels the sky region as tree; instance accepted unchanged
    next(r for r in seg_regions if r["value"]["brushlabels"] == ["sky"])["value"]["brushlabels"] = ["tree"]
    annotator.submit(task, result)
    # on the other sample, the person removes every region of the segmentation
    erased = dataset.last()
    erased_id = erased.seg.id
    erased_task = task_of(results, erased.id)
    annotator.submit(erased_task, [r for r in annotator.prefilled_result(erased_task) if r["from_name"] != "seg"])
    dataset.load_annotations("masks")
    sample.reload()
    erased.reload()
    # an all-zero mask of the original size, under the same label id
    assert erased.seg.id == erased_id
    assert erased.seg.get_mask().shape == (height, width) and not erased.seg.get_mask().any()

    blob = sample.objects.detections[0]
    assert blob.id == blob_id
    assert blob.bounding_box == pytest.approx([4 / 40, 3 / 30, 8 / 40, 6 / 30])
    assert np.array_equal(blob.mask.astype(bool), instance_mask)
    expected = mask.copy()
    expected[expected == 1] = 3
    assert sample.seg.id == seg_id
    assert np.array_equal(sample.seg.get_mask(), expected)


def test_scalar_fields_come_back_as_plain_values(dataset, media_dir, backend, annotator):
    add_images(dataset, media_dir, 3)
    dataset.set_values("count", [1, 2, None])
    dataset.set_values("score", [0.5, None, 0.25])
    dataset.set_values("good", [True, False, None])
    dataset.set_values("caption", ["a cat", None, "x"])
    dataset.set_values("kind", ["photo", "drawing", None])
    schema = {
        "count": {"type": "scalar"},
        "score": {"type": "scalar"},
        "good": {"type": "scalar"},
        "caption": {"type": "scalar"},
        "kind": {"type": "scalar", "classes": ["photo", "drawing"]},
    }
    results = dataset.annotate("scalars", backend=backend, label_schema=schema)
    first, second, third = list(dataset)
    result = annotator.prefilled_result(task_of(results, first.id))
    _by_from_name(result, "count")[0]["value"]["number"] = 7
    _by_from_name(result, "caption")[0]["value"]["text"] = ["two cats"]
    result = [r for r in result if r["from_name"] != "score"]  # cleared
    annotator.submit(task_of(results, first.id), result)
    second_result = annotator.prefilled_result(task_of(results, second.id))
    second_result.append(
        {"id": "n1", "from_name": "score", "to_name": "image", "type": "number", "value": {"number": 0.75}}
    )
    _by_from_name(second_result, "good")[0]["value"]["choices"] = ["True"]
    annotator.submit(task_of(results, second.id), second_result)
    dataset.load_annotations("scalars")

    rows = list(zip(*dataset.values(["count", "score", "good", "caption", "kind"])))
    assert rows[0] == (7, None, True, "two cats", "photo")
    assert rows[1] == (2, 0.75, True, None, "drawing")
    assert rows[2] == (None, 0.25, None, "x", None)  # untouched
    assert isinstance(rows[0][0], int) and isinstance(rows[1][1], float)
