"""Picsellia's version plan and shapes: FiftyOne labels -> shapes -> (what the
server returns) -> regions -> the same labels, by id."""

import math

import fiftyone.core.labels as fol
import pytest

from fo_annotation_backends.core import regions
from fo_annotation_backends.core.errors import SchemaError
from fo_annotation_backends.core.schema import normalize_label_schema
from fo_annotation_backends.picsellia.convert import labels_to_shapes, rectangle_of, shapes_to_regions
from fo_annotation_backends.picsellia.interface import PicselliaInterface

WIDTH, HEIGHT = 640, 480


def fields_of(schema):
    return normalize_label_schema(schema)


def as_loaded(shapes, label_ids):
    """What Picsellia returns for written shapes: the label's name instead of
    its id, and an id of its own per shape."""
    names = {v: k for k, v in label_ids.items()}
    out = {}
    for kind, items in shapes.items():
        out[kind] = []
        for n, shape in enumerate(items):
            loaded = {k: v for k, v in shape.items() if k != "label_id"}
            loaded.update(id="shape-%s-%d" % (kind, n), label=names[shape["label_id"]])
            out[kind].append(loaded)
    return out


def test_one_field_gives_its_type_and_shared_classes_are_named_after_their_field():
    interface = PicselliaInterface(fields_of({"gt": {"type": "detections", "classes": ["cat", "dog"]}}))
    assert interface.version_type == "OBJECT_DETECTION"
    assert interface.label_names == {"gt": {"cat": "cat", "dog": "dog"}}
    fields = fields_of(
        {
            "gt": {"type": "detections", "classes": ["cat", "dog"]},
            "pred": {"type": "detections", "classes": ["cat"]},
            "shape": {"type": "polygons", "classes": ["cat"]},
            "scene": {"type": "classification", "classes": ["day", "night"]},
        }
    )
    interface = PicselliaInterface(fields)
    assert interface.version_type == "MULTI"
    assert interface.label_names["gt"] == {"cat": "gt/cat", "dog": "dog"}
    assert interface.label_names["pred"] == {"cat": "pred/cat"}
    assert interface.label_names["shape"] == {"cat": "cat"}  # another kind of shape: no clash
    assert interface.owner("rectangles", "gt/cat") == ("gt", "cat")
    assert interface.owner("polygons", "cat") == ("shape", "cat")
    assert interface.owner("rectangles", "unknown") is None
    again = PicselliaInterface(fields, mapping=interface.to_dict())
    assert again.label_names == interface.label_names and again.version_type == "MULTI"


@pytest.mark.parametrize(
    "schema, reason",
    [
        ({"f": {"type": "scalar", "classes": list(range(65))}}, "at most 64 choices"),
        ({"f": {"type": "detections", "classes": []}}, "classes"),
        ({"f": {"type": "classification", "classes": []}}, "classes"),
    ],
)
def test_what_picsellia_cannot_hold_is_refused_before_upload(schema, reason):
    with pytest.raises(SchemaError, match="(?i)field 'f'.*%s" % reason):
        PicselliaInterface(fields_of(schema))


def test_masks_and_scalars_have_their_version_types_and_attributes():
    fields = fields_of(
        {
            "inst": {"type": "instances", "classes": ["a"]},
            "seg": {"type": "segmentation", "mask_targets": {1: "a", 2: "b"}},
            "count": {"type": "scalar", "classes": [1, 2, 3]},
        }
    )
    interface = PicselliaInterface(fields)
    assert interface.version_type == "MASK"  # scalars are image-level attributes of any version
    assert interface.label_names["seg"] == {"a": "seg/a", "b": "b"}
    assert interface.scalar_names == {"count": "count"}
    assert interface.attributes["count"]["input_type"] == "INTEGER"
    assert interface.attributes["count"]["choices"] == [1, 2, 3]


def roundtrip(schema, value, edit=None):
    fields = fields_of(schema)
    (spec,) = fields.values()
    interface = PicselliaInterface(fields)
    label_ids = {name: "lbl-%d" % i for i, name in enumerate(interface.all_label_names())}
    shapes = labels_to_shapes(spec, interface, value, label_ids, WIDTH, HEIGHT)
    loaded = as_loaded(shapes, label_ids)
    if edit:
        edit(loaded)
    current = {label.id: label for label in regions_iter(value)}
    found = shapes_to_regions(interface, loaded, WIDTH, HEIGHT, current).get(spec.name, [])
    if spec.type in ("classification", "classifications"):
        choices = [(r.label, r.attributes) for r in found]
        return shapes, regions.classifications_to_labels(spec, choices, current)
    return shapes, regions.regions_to_labels(spec, found, current)


def regions_iter(value):
    from fo_annotation_backends.core.idmap import iter_labels

    return iter_labels(value)


def test_untouched_boxes_come_back_exactly_and_edits_by_id():
    boxes = fol.Detections(
        detections=[
            fol.Detection(label="cat", bounding_box=[0.1234567, 0.2, 0.3, 0.25], occluded=True),
            fol.Detection(label="dog", bounding_box=[0.5, 0.5, 0.2, 0.2]),
        ]
    )
    schema = {"gt": {"type": "detections", "classes": ["cat", "dog"], "attributes": {"occluded": {"type": "checkbox"}}}}
    shapes, labels = roundtrip(schema, boxes)
    assert shapes["rectangles"][0]["text"] == boxes.detections[0].id
    assert shapes["rectangles"][0]["attributes"] == {"occluded": True}
    assert shapes["rectangles"][0] == dict(shapes["rectangles"][0], x=79, y=96, w=192, h=120)
    cat, dog = boxes.detections
    assert labels[cat.id].bounding_box == cat.bounding_box  # pixel rounding is not an edit
    assert labels[cat.id].occluded is True
    assert labels[dog.id].bounding_box == dog.bounding_box

    def move_cat_delete_dog_add_one(loaded):
        loaded["rectangles"][0]["x"] += 64
        del loaded["rectangles"][1]
        loaded["rectangles"].append({"id": "new", "label": "dog", "x": 0, "y": 0, "w": 64, "h": 48})

    _, labels = roundtrip(schema, boxes, move_cat_delete_dog_add_one)
    assert labels[cat.id].bounding_box[0] == pytest.approx((79 + 64) / WIDTH)
    assert dog.id not in labels
    (new,) = [label for i, label in labels.items() if i != cat.id]
    assert new.label == "dog" and new.bounding_box == pytest.approx([0, 0, 0.1, 0.1])


def test_polylines_with_several_shapes_and_polygons_keep_their_parts():
    line = fol.Polyline(label="road", points=[[[0.1, 0.1], [0.5, 0.5]], [[0.6, 0.6], [0.9, 0.7]]], closed=False)
    _, labels = roundtrip({"lanes": {"type": "polylines", "classes": ["road"]}}, fol.Polylines(polylines=[line]))
    assert [len(s) for s in labels[line.id].points] == [2, 2]
    assert labels[line.id].points[1][1] == pytest.approx([0.9, 0.7])
    assert labels[line.id].closed is False
    poly = fol.Polyline(label="lake", points=[[[0.1, 0.1], [0.4, 0.1], [0.3, 0.4]]], closed=True, filled=True)
    shapes, labels = roundtrip({"water": {"type": "polygons", "classes": ["lake"]}}, fol.Polylines(polylines=[poly]))
    assert shapes["polygons"][0]["polygon"][1] == pytest.approx([256.0, 48.0])
    assert labels[poly.id].closed and labels[poly.id].filled


def test_keypoints_keep_missing_points_and_their_floats():
    kp = fol.Keypoint(label="person", points=[[0.1234, 0.5], [math.nan, math.nan], [0.3, 0.3]])
    shapes, labels = roundtrip({"pose": {"type": "keypoints", "classes": ["person"]}}, fol.Keypoints(keypoints=[kp]))
    assert [p[2] for p in shapes["keypoints"][0]["keypoints"]] == [2, 0, 2]
    points = labels[kp.id].points
    assert points[0] == [0.1234, 0.5] and math.isnan(points[1][0]) and points[2] == pytest.approx([0.3, 0.3])


def test_a_classification_comes_back_under_its_id_and_a_new_class_is_new():
    label = fol.Classification(label="day")
    _, labels = roundtrip({"scene": {"type": "classification", "classes": ["day", "night"]}}, label)
    assert labels[label.id].label == "day"

    def switch(loaded):
        loaded["classifications"] = [{"id": "c2", "label": "night"}]

    _, labels = roundtrip({"scene": {"type": "classification", "classes": ["day", "night"]}}, label, switch)
    assert [c.label for c in labels.values()] == ["night"]


def test_rectangles_are_at_least_one_pixel():
    assert rectangle_of([0.5, 0.5, 0.0001, 0.0001], WIDTH, HEIGHT) == {"x": 320, "y": 240, "w": 1, "h": 1}
