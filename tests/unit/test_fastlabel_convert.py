"""FastLabel conversions: the annotation classes, and FiftyOne labels ->
task annotations -> FiftyOne labels round trips through the FastLabel
emulator (which checks every class body, annotation and attribute as the
service does), including an editor's edits, additions and deletions by id."""

import base64
import io
import json
import logging
import math
import re

import fiftyone.core.fields as fof
import fiftyone.core.labels as fol
import numpy as np
import pytest
import requests
from fiftyone.core.odm.dataset import KeypointSkeleton
from PIL import Image

from fo_annotation_backends.core import geometry, naming
from fo_annotation_backends.core.errors import SchemaError
from fo_annotation_backends.core.idmap import is_object_id, iter_labels, part_id
from fo_annotation_backends.core.schema import normalize_label_schema
from fo_annotation_backends.fastlabel.convert import (
    FastLabelInterface,
    labels_to_task,
    task_to_labels,
)
from fo_annotation_backends.testing.fastlabel import FastLabelEmulator

NAN = float("nan")
SAFE_VALUE = re.compile(r"^[a-z][a-z0-9_-]*$")
TRICKY_CLASSES = [
    "traffic light",
    "猫",
    "a<b & c",
    'say "hi"',
    "Größe 日本",
    "  padded  ",
    "it's",
    "1st",
    "🐱",
    "Cat",
    "cat",
]


class FieldTypes:
    """Just enough of a sample collection for ``get_field``."""

    def __init__(self, **fields):
        self._fields = fields

    def get_field(self, name):
        return self._fields.get(name)


def interface_of(schema, samples=None, skeletons=None, mapping=None):
    fields = normalize_label_schema(schema, samples=samples)
    return fields, FastLabelInterface(fields, skeletons=skeletons, mapping=mapping)


def grid(text):
    """A boolean mask from rows of ``#`` (foreground) and ``.``."""
    return np.array([[c == "#" for c in row] for row in text.split()], dtype=bool)


def assert_points_equal(actual, expected):
    assert len(actual) == len(expected)
    for (ax, ay), (ex, ey) in zip(actual, expected):
        if math.isnan(ex):
            assert math.isnan(ax) and math.isnan(ay)
        else:
            assert (ax, ay) == (pytest.approx(ex, abs=1e-12), pytest.approx(ey, abs=1e-12))


# --------------------------------------------------------------------------
# the emulator, as the backend will drive it
# --------------------------------------------------------------------------


class Server:
    """A FastLabel emulator plus the few calls the tests make."""

    def __init__(self, emulator):
        self.emulator = emulator
        self.projects = 0

    def call(self, method, path, **kwargs):
        headers = {"Authorization": "Bearer %s" % self.emulator.api_key}
        response = requests.request(method, self.emulator.url + path, headers=headers, timeout=10, **kwargs)
        assert response.status_code in (200, 204), (method, path, response.status_code, response.text)
        return response.json() if response.content else None

    def project(self, interface):
        """A new project with the interface's classes; returns its slug."""
        self.projects += 1
        slug = "p%d" % self.projects
        body = {"type": interface.project_type, "name": slug, "slug": slug, "workflow": "two_step"}
        self.call("POST", "projects", json=dict(body, externalWorkflow="two_step", jobSize=10))
        for cls in interface.annotation_classes():
            assert "project" not in cls
            self.call("POST", "annotations", json=dict(cls, project=slug))
        attributes = interface.classification_attributes()
        if attributes:
            self.call("POST", "annotations/classification", json={"project": slug, "attributes": attributes})
        return slug

    def upload(self, interface, slug, values, size, name="a.png"):
        """Creates a task for ``values``; returns ``(task, annotation_ids)``
        with ``annotation_ids`` built as the backend does."""
        annotations, attributes, part_ids = labels_to_task(interface, values, size)
        body = {"project": slug, "name": name, "file": png(size)}
        if interface.project_type == "image_classification":
            assert annotations == [] and part_ids == []
            task_id = self.call("POST", "tasks/image/classification", json=dict(body, attributes=attributes))
            return self.call("GET", "tasks/image/classification/" + task_id), {}
        assert attributes == [] and len(part_ids) == len(annotations)
        task_id = self.call("POST", "tasks/image", json=dict(body, annotations=annotations))
        task = self.call("GET", "tasks/image/" + task_id)
        assert [a["value"] for a in task["annotations"]] == [a["value"] for a in annotations]
        annotation_ids = dict(zip([a["id"] for a in task["annotations"]], part_ids))
        return task, annotation_ids

    def edit(self, task, annotations):
        """What an editor does: ``PUT tasks/image/{id}`` of the full list
        (entries keeping their ``id`` are edited in place)."""
        return self.call("PUT", "tasks/image/" + task["id"], json={"annotations": annotations})


def png(size, color=(90, 120, 150)):
    buffer = io.BytesIO()
    Image.new("RGB", tuple(size), color).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def editable(task):
    """The task's annotations as an editor sends them back (ids kept)."""
    return [
        {k: v for k, v in a.items() if k in ("id", "type", "value", "points", "rotation", "keypoints", "attributes")}
        for a in json.loads(json.dumps(task["annotations"]))
    ]


def read(interface, task, annotation_ids, values):
    """``{field: task_to_labels(...)}`` with the uploaded labels as current."""
    out = {}
    for field, spec in interface.fields.items():
        current = {label.id: label for label in iter_labels(values.get(field))} if spec.type != "scalar" else {}
        out[field] = task_to_labels(interface, spec, json.loads(json.dumps(task)), annotation_ids, current)
    return out


@pytest.fixture(scope="module")
def server():
    with FastLabelEmulator(api_key="convert-key") as emulator:
        yield Server(emulator)


def roundtrip(server, interface, values, size=(40, 30)):
    slug = server.project(interface)
    task, annotation_ids = server.upload(interface, slug, values, size)
    return task, annotation_ids, read(interface, task, annotation_ids, values)


# --------------------------------------------------------------------------
# the interface
# --------------------------------------------------------------------------

FULL_SCHEMA = {
    "ground_truth": {
        "type": "detections",
        "classes": ["cat", "traffic light"],
        "attributes": {
            "occluded": {"type": "checkbox"},
            "kind": {"type": "select", "values": ["a b", "c", 3]},
            "weather": {"type": "radio", "values": [1, 2]},
            "note": {"type": "text"},
        },
    },
    "roads": {"type": "polygons", "classes": ["road"]},
    "lanes": {"type": "polylines", "classes": ["lane"]},
    "eyes": {"type": "keypoints", "classes": ["eye"]},
    "people": {"type": "keypoints", "classes": ["person"]},
    "blobs": {"type": "instances", "classes": ["blob"]},
    "seg": {"type": "segmentation", "mask_targets": {0: "background", 1: "sky", 7: "a & b"}},
    "scene": {"type": "classification", "classes": ["day", "night"], "attributes": {"sure": {"type": "checkbox"}}},
    "tags": {"type": "classifications", "classes": ["x", "y z"]},
    "count": {"type": "scalar"},
}
SKELETON = KeypointSkeleton(labels=["left eye", "Right-Eye", "nose", "鼻"], edges=[[0, 1, 2], [2, 3]])


def full_interface(mapping=None):
    samples = FieldTypes(count=fof.IntField())
    return interface_of(FULL_SCHEMA, samples, skeletons={"people": SKELETON}, mapping=mapping)


def test_project_types_and_image_size():
    fields, interface = full_interface()
    assert interface.project_type == "image_all" and interface.needs_image_size()
    assert interface.classification_attributes() == []
    fields, interface = interface_of(
        {"scene": {"type": "classification", "classes": ["a"]}, "n": {"type": "scalar"}}, FieldTypes(n=fof.IntField())
    )
    assert interface.project_type == "image_classification" and not interface.needs_image_size()
    assert interface.annotation_classes() == []
    assert [a["key"] for a in interface.classification_attributes()] == ["scene", "n"]


def test_class_bodies_of_every_type():
    fields, interface = full_interface()
    bodies = {body["value"]: body for body in interface.annotation_classes()}
    assert list(bodies) == [
        "ground_truth-cat",
        "ground_truth-traffic_light",
        "roads-road",
        "lanes-lane",
        "eyes-eye",
        "people-person",
        "blobs-blob",
        "seg-sky",
        "seg-a_b",
        "scene",
        "tags",
        "count",
    ]
    assert bodies["ground_truth-traffic_light"] == {
        "type": "bbox",
        "value": "ground_truth-traffic_light",
        "title": "traffic light",
        "attributes": [
            {"type": "switch", "name": "occluded", "key": "ground_truth__occluded"},
            {
                "type": "select",
                "name": "kind",
                "key": "ground_truth__kind",
                "options": [
                    {"title": "a b", "value": "a_b"},
                    {"title": "c", "value": "c"},
                    {"title": "3", "value": "v_3"},
                ],
            },
            {
                "type": "radio",
                "name": "weather",
                "key": "ground_truth__weather",
                "options": [{"title": "1", "value": "v_1"}, {"title": "2", "value": "v_2"}],
            },
            {"type": "text", "name": "note", "key": "ground_truth__note"},
        ],
    }
    assert [bodies[v]["type"] for v in ("roads-road", "lanes-lane", "eyes-eye", "people-person", "blobs-blob")] == [
        "polygon",
        "line",
        "keypoint",
        "pose_estimation",
        "segmentation",
    ]
    assert bodies["blobs-blob"]["maxAreaCount"] is None and bodies["seg-sky"]["maxAreaCount"] is None
    assert (bodies["seg-a_b"]["type"], bodies["seg-a_b"]["title"]) == ("segmentation", "a & b")
    assert bodies["people-person"]["keypoints"] == [
        {"key": "left_eye", "name": "left eye", "edges": ["right_eye"]},
        {"key": "right_eye", "name": "Right-Eye", "edges": ["left_eye", "nose"]},
        {"key": "nose", "name": "nose", "edges": ["right_eye", "point_3"]},
        {"key": "point_3", "name": "鼻", "edges": ["nose"]},
    ]
    assert bodies["scene"] == {
        "type": "classification",
        "value": "scene",
        "title": "scene",
        "attributes": [
            {
                "type": "radio",
                "name": "scene",
                "key": "scene",
                "options": [{"title": "day", "value": "day"}, {"title": "night", "value": "night"}],
            },
            {"type": "switch", "name": "sure", "key": "scene__sure"},
        ],
    }
    assert bodies["tags"]["attributes"] == [
        {
            "type": "checkbox",
            "name": "tags",
            "key": "tags",
            "options": [{"title": "x", "value": "x"}, {"title": "y z", "value": "y_z"}],
        }
    ]
    assert bodies["count"]["attributes"] == [{"type": "text", "name": "count", "key": "count"}]


def test_every_class_body_is_accepted_by_the_emulator(server):
    fields, interface = full_interface()
    slug = server.project(interface)
    classes = server.call("GET", "annotations", params={"project": slug, "limit": 100})
    assert [(c["value"], c["title"], c["type"]) for c in classes] == [
        (b["value"], b["title"], b["type"]) for b in interface.annotation_classes()
    ]


def test_to_dict_is_json_and_rebuilds_the_same_interface():
    fields, interface = full_interface()
    mapping = interface.to_dict()
    assert json.loads(json.dumps(mapping)) == mapping
    assert mapping["version"] == 1 and mapping["project_type"] == "image_all"
    assert mapping["fields"]["ground_truth"] == "ground_truth"
    assert mapping["classes"]["ground_truth"] == {
        "cat": "ground_truth-cat",
        "traffic light": "ground_truth-traffic_light",
    }
    assert mapping["choices"]["scene"] == {"day": "day", "night": "night"}
    assert mapping["attributes"]["ground_truth"]["kind"] == "ground_truth__kind"
    assert mapping["attribute_options"]["ground_truth"]["weather"] == {"1": "v_1", "2": "v_2"}
    assert [p["key"] for p in mapping["pose_points"]["people"]] == ["left_eye", "right_eye", "nose", "point_3"]
    # reused exactly, even without the skeleton
    fields, again = interface_of(FULL_SCHEMA, FieldTypes(count=fof.IntField()), mapping=json.loads(json.dumps(mapping)))
    assert again.to_dict() == mapping
    assert again.annotation_classes() == interface.annotation_classes()


def test_a_stored_mapping_is_reused_exactly_and_its_names_stay_reserved():
    mapping = {
        "version": 1,
        "project_type": "image_all",
        "fields": {"gt": "odd_gt", "gone": "gt"},
        "classes": {"gt": {"cat": "whatever-1"}, "gone": {"dog": "gt-dog"}},
        "choices": {},
        "attributes": {"gt": {"size": "gt-size"}},
        "attribute_options": {"gt": {"size": {"big": "huge"}}},
        "pose_points": {},
    }
    schema = {
        "gt": {
            "type": "detections",
            "classes": ["cat", "dog"],
            "attributes": {"size": {"type": "radio", "values": ["big", "small"]}},
        }
    }
    fields, interface = interface_of(schema, mapping=mapping)
    assert interface.field_key("gt") == "odd_gt"
    assert interface.class_values("gt") == {"cat": "whatever-1", "dog": "odd_gt-dog"}
    assert interface.attribute_keys("gt") == {"size": "gt-size"}
    assert interface.option_value("gt", "size", "big") == "huge"
    assert interface.option_value("gt", "size", "small") == "small"
    assert interface.class_of_value("gt", "gt-dog") is None  # the old field's class is not this field's

    # a fresh name never takes a reserved one
    fields, interface = interface_of(
        {"gt": {"type": "detections", "classes": ["dog"]}}, mapping={"fields": {"old": "gt"}}
    )
    assert interface.field_key("gt") == "gt_2"


def test_stored_classification_project_refuses_spatial_fields():
    with pytest.raises(SchemaError, match="image_classification"):
        interface_of({"gt": {"type": "detections", "classes": ["a"]}}, mapping={"project_type": "image_classification"})


def test_values_are_safe_unique_identifiers_and_titles_exact(server):
    fields, interface = interface_of(
        {
            "gt": {"type": "detections", "classes": TRICKY_CLASSES},
            "Ground Truth!": {"type": "classifications", "classes": TRICKY_CLASSES},
            "😀": {"type": "polygons", "classes": ["x"]},
        }
    )
    values = list(interface.class_values("gt").values())
    assert all(SAFE_VALUE.match(v) for v in values) and len(set(values)) == len(values)
    assert interface.class_value("gt", "猫") == "gt-class_2" and interface.class_value("gt", "1st") == "gt-1st"
    assert interface.class_value("gt", "Cat") == "gt-cat" and interface.class_value("gt", "cat") == "gt-cat_2"
    assert interface.field_key("Ground Truth!") == "ground_truth" and interface.field_key("😀") == "field_3"
    options = list(interface.choice_values("Ground Truth!").values())
    assert all(SAFE_VALUE.match(v) for v in options) and len(set(options)) == len(options)
    bodies = interface.annotation_classes()
    assert [b["title"] for b in bodies if b["value"].startswith("gt-")] == TRICKY_CLASSES
    (choice,) = [b for b in bodies if b["value"] == "ground_truth"]
    assert choice["title"] == "Ground Truth!"
    assert [o["title"] for o in choice["attributes"][0]["options"]] == TRICKY_CLASSES

    detections = fol.Detections(
        detections=[fol.Detection(label=c, bounding_box=[0.1, 0.1, 0.2, 0.2]) for c in TRICKY_CLASSES]
    )
    tags = fol.Classifications(classifications=[fol.Classification(label=c) for c in TRICKY_CLASSES])
    values = {"gt": detections, "Ground Truth!": tags}
    task, annotation_ids, back = roundtrip(server, interface, values)
    assert {label.id: label.label for label in back["gt"].values()} == {d.id: d.label for d in detections.detections}
    assert {label.id: label.label for label in back["Ground Truth!"].values()} == {
        c.id: c.label for c in tags.classifications
    }
    assert back["😀"] == {}


# --------------------------------------------------------------------------
# spatial labels
# --------------------------------------------------------------------------


def test_detections_round_trip_with_attributes_and_ids(server):
    fields, interface = full_interface()
    a = fol.Detection(label="cat", bounding_box=[0.1, 0.2, 0.3, 0.4], occluded=True, kind=3, weather=2, note="naïve")
    b = fol.Detection(label="traffic light", bounding_box=[0.0, 0.0, 1.0, 1.0], occluded=False, kind="a b")
    value = fol.Detections(detections=[a, b])
    task, annotation_ids, back = roundtrip(server, interface, {"ground_truth": value}, size=(40, 30))
    first, second = task["annotations"]
    assert first["type"] == "bbox" and first["points"] == pytest.approx([4, 6, 16, 18]) and first["rotation"] == 0
    assert first["attributes"] == [
        {"key": "ground_truth__occluded", "name": "occluded", "type": "switch", "value": True},
        {"key": "ground_truth__kind", "name": "kind", "type": "select", "value": "v_3"},
        {"key": "ground_truth__weather", "name": "weather", "type": "radio", "value": "v_2"},
        {"key": "ground_truth__note", "name": "note", "type": "text", "value": "naïve"},
    ]
    assert sorted(annotation_ids.values()) == sorted([a.id, b.id])
    labels = back["ground_truth"]
    assert set(labels) == {a.id, b.id}
    assert labels[a.id].bounding_box == pytest.approx(a.bounding_box, abs=1e-12)
    assert (labels[a.id].occluded, labels[a.id].kind, labels[a.id].weather, labels[a.id].note) == (True, 3, 2, "naïve")
    assert labels[b.id].bounding_box == pytest.approx([0, 0, 1, 1])
    # an existing label's unset attributes read back as None (checkbox: False)
    assert (labels[b.id].occluded, labels[b.id].kind, labels[b.id].weather, labels[b.id].note) == (
        False,
        "a b",
        None,
        None,
    )


@pytest.mark.parametrize(
    "rotation, expected",
    [
        (0, [10, 10, 20, 6]),
        (90, [17, 3, 6, 20]),
        (180, [10, 10, 20, 6]),
        (-90, [17, 3, 6, 20]),
        (45, [20 - 13 * math.sqrt(0.5), 13 - 13 * math.sqrt(0.5), 26 * math.sqrt(0.5), 26 * math.sqrt(0.5)]),
    ],
)
def test_a_rotated_box_reads_back_as_its_enclosing_box(server, rotation, expected):
    fields, interface = interface_of({"gt": {"type": "detections", "classes": ["cat"]}})
    label = fol.Detection(label="cat", bounding_box=[0.25, 1 / 3, 0.5, 0.2])
    value = fol.Detections(detections=[label])
    slug = server.project(interface)
    task, annotation_ids = server.upload(interface, slug, {"gt": value}, (40, 30))
    annotations = editable(task)
    assert annotations[0]["points"] == pytest.approx([10, 10, 30, 16])
    annotations[0]["rotation"] = rotation
    task = server.edit(task, annotations)
    (back,) = read(interface, task, annotation_ids, {"gt": value})["gt"].values()
    assert back.id == label.id
    x, y, w, h = expected
    assert back.bounding_box == pytest.approx([x / 40, y / 30, w / 40, h / 30])


def test_a_rotated_box_is_clipped_to_the_image(server):
    fields, interface = interface_of({"gt": {"type": "detections", "classes": ["cat"]}})
    label = fol.Detection(label="cat", bounding_box=[0.0, 0.0, 0.5, 0.2])
    value = fol.Detections(detections=[label])
    slug = server.project(interface)
    task, annotation_ids = server.upload(interface, slug, {"gt": value}, (40, 30))
    annotations = editable(task)
    annotations[0]["rotation"] = 90  # 20 x 6 about (10, 3): x 7..13, y -7..13
    task = server.edit(task, annotations)
    (back,) = read(interface, task, annotation_ids, {"gt": value})["gt"].values()
    assert back.bounding_box == pytest.approx([7 / 40, 0, 6 / 40, 13 / 30])


def test_polygons_are_one_annotation_per_shape(server):
    fields, interface = interface_of({"roads": {"type": "polygons", "classes": ["road"]}})
    shapes = [[(0.1, 0.1), (0.5, 0.1), (0.5, 0.5), (0.1, 0.1)], [(0.6, 0.6), (0.9, 0.6), (0.9, 0.9)], [(0, 0), (1, 1)]]
    label = fol.Polyline(label="road", points=shapes, closed=True, filled=True)
    value = fol.Polylines(polylines=[label])
    task, annotation_ids, back = roundtrip(server, interface, {"roads": value}, size=(10, 20))
    assert [a["points"] for a in task["annotations"]] == [
        pytest.approx([1, 2, 5, 2, 5, 10]),
        pytest.approx([6, 12, 9, 12, 9, 18]),
    ]
    assert sorted(annotation_ids.values()) == [label.id, part_id(label.id, 1)]
    (result,) = back["roads"].values()
    assert result.id == label.id and result.closed and result.filled
    assert len(result.points) == 2
    assert_points_equal(result.points[0], shapes[0][:3])
    assert_points_equal(result.points[1], shapes[1])


def test_polylines_keep_closed_and_filled_and_new_ones_follow_the_field(server):
    fields, interface = interface_of({"lanes": {"type": "polylines", "classes": ["lane"]}})
    label = fol.Polyline(label="lane", points=[[(0.1, 0.2), (0.3, 0.4)]], closed=True, filled=True)
    value = fol.Polylines(polylines=[label])
    slug = server.project(interface)
    task, annotation_ids = server.upload(interface, slug, {"lanes": value}, (50, 50))
    assert task["annotations"][0]["type"] == "line" and task["annotations"][0]["points"] == pytest.approx(
        [5, 10, 15, 20]
    )
    annotations = editable(task) + [{"type": "line", "value": "lanes-lane", "points": [0, 0, 25, 25, 50, 0]}]
    task = server.edit(task, annotations)
    labels = read(interface, task, annotation_ids, {"lanes": value})["lanes"]
    assert labels[label.id].closed and labels[label.id].filled
    (new_id,) = set(labels) - {label.id}
    assert is_object_id(new_id) and not labels[new_id].closed and not labels[new_id].filled
    assert_points_equal(labels[new_id].points[0], [(0, 0), (0.5, 0.5), (1, 0)])


def test_keypoints_are_one_annotation_per_point_and_missing_points_keep_their_index(server):
    fields, interface = interface_of({"eyes": {"type": "keypoints", "classes": ["eye"]}})
    label = fol.Keypoint(label="eye", points=[(0.1, 0.2), (NAN, NAN), (0.5, 0.5)])
    value = fol.Keypoints(keypoints=[label])
    slug = server.project(interface)
    task, annotation_ids = server.upload(interface, slug, {"eyes": value}, (100, 50))
    assert [a["points"] for a in task["annotations"]] == [pytest.approx([10, 10]), pytest.approx([50, 25])]
    assert sorted(annotation_ids.values()) == [label.id, part_id(label.id, 2)]
    (back,) = read(interface, task, annotation_ids, {"eyes": value})["eyes"].values()
    assert back.id == label.id
    assert_points_equal(back.points, label.points)

    # the editor deletes the first point and adds one: the addition is a keypoint of its own
    annotations = editable(task)[1:] + [{"type": "keypoint", "value": "eyes-eye", "points": [20, 40]}]
    task = server.edit(task, annotations)
    labels = read(interface, task, annotation_ids, {"eyes": value})["eyes"]
    assert_points_equal(labels[label.id].points, [(NAN, NAN), (NAN, NAN), (0.5, 0.5)])
    (new_id,) = set(labels) - {label.id}
    assert_points_equal(labels[new_id].points, [(0.2, 0.8)])


def test_pose_round_trip_with_missing_points(server):
    fields, interface = interface_of(
        {"people": {"type": "keypoints", "classes": ["person"], "attributes": {"note": {"type": "text"}}}},
        skeletons={"people": SKELETON},
    )
    label = fol.Keypoint(label="person", points=[(0.1, 0.2), (NAN, NAN), (0.3, 0.4), (0.5, 0.5)], note="x")
    short = fol.Keypoint(label="person", points=[(0.9, 0.9), (NAN, NAN)])
    value = fol.Keypoints(keypoints=[label, short])
    slug = server.project(interface)
    task, annotation_ids = server.upload(interface, slug, {"people": value}, (10, 10))
    first = task["annotations"][0]
    assert first["type"] == "pose_estimation" and first["points"] == []
    assert [(k["key"], k["name"], k["value"]) for k in first["keypoints"]] == [
        ("left_eye", "left eye", pytest.approx([1, 2, 1])),
        ("right_eye", "Right-Eye", []),
        ("nose", "nose", pytest.approx([3, 4, 1])),
        ("point_3", "鼻", pytest.approx([5, 5, 1])),
    ]
    assert list(annotation_ids.values()) == [label.id, short.id]
    labels = read(interface, task, annotation_ids, {"people": value})["people"]
    assert labels[label.id].note == "x"
    assert_points_equal(labels[label.id].points, label.points)
    assert_points_equal(labels[short.id].points, short.points)  # its length is kept

    # the editor places the missing point, and draws a new pose with one point
    annotations = editable(task)
    annotations[0]["keypoints"][1]["value"] = [7, 8, 0]
    annotations.append(
        {"type": "pose_estimation", "value": "people-person", "keypoints": [{"key": "nose", "value": [5, 5, 1]}]}
    )
    task = server.edit(task, annotations)
    labels = read(interface, task, annotation_ids, {"people": value})["people"]
    assert_points_equal(labels[label.id].points, [(0.1, 0.2), (0.7, 0.8), (0.3, 0.4), (0.5, 0.5)])
    (new_id,) = set(labels) - {label.id, short.id}
    assert_points_equal(labels[new_id].points, [(NAN, NAN), (NAN, NAN), (0.5, 0.5), (NAN, NAN)])
    assert labels[new_id].note is None


MASK_CASES = {
    "holes and islands": ("########.. #......#.. #.####.#.# #.#..#.#.. #.####.#.# ########.# "),
    "diagonal saddles": "#.#.#. .#.#.# #.#.#. ......",
    "single pixels at the borders": "#....# ...... ..#... #....#",
    "touching every border": "###### #....# ######",
    "non-square thin": "#.##..#..### .#####....#.",
    "a hole with an island": "####### #.....# #.###.# #.#.#.# #.###.# #.....# #######",
}


@pytest.mark.parametrize("case", sorted(MASK_CASES))
def test_instance_masks_round_trip_exactly(server, case):
    full = grid(MASK_CASES[case])
    height, width = full.shape
    box, mask = geometry.full_mask_to_instance(full)
    fields, interface = interface_of({"blobs": {"type": "instances", "classes": ["blob"]}})
    label = fol.Detection(label="blob", bounding_box=box, mask=mask)
    value = fol.Detections(detections=[label])
    task, annotation_ids, back = roundtrip(server, interface, {"blobs": value}, size=(width, height))
    (annotation,) = task["annotations"]
    assert annotation["type"] == "segmentation" and list(annotation_ids.values()) == [label.id]
    for region in annotation["points"]:
        for k, ring in enumerate(region):
            assert ring[:2] == ring[-2:]  # closed
            xy = np.array(ring[:-2]).reshape(-1, 2)
            area = 0.5 * np.sum(xy[:, 0] * np.roll(xy[:, 1], -1) - np.roll(xy[:, 0], -1) * xy[:, 1])
            assert (area > 0) == (k == 0)  # outer clockwise on screen, holes the other way
    (result,) = back["blobs"].values()
    assert result.id == label.id
    assert np.array_equal(geometry.instance_to_full_mask(result.bounding_box, result.mask, width, height), full)


def test_instance_regions_carry_their_holes():
    fields, interface = interface_of({"blobs": {"type": "instances", "classes": ["blob"]}})
    full = grid("##### #...# #.#.# #...# #####")  # a frame around an island
    label = fol.Detection(label="blob", bounding_box=[0, 0, 1, 1], mask=full)
    (annotation,), _, _ = labels_to_task(interface, {"blobs": fol.Detections(detections=[label])}, (5, 5))
    frame, island = annotation["points"]
    assert len(frame) == 2 and len(island) == 1
    assert island == [[2.5, 3.0, 2.0, 2.5, 2.5, 2.0, 3.0, 2.5, 2.5, 3.0]]  # one pixel: a closed diamond
    assert frame[0][:2] == frame[0][-2:] and frame[1][:2] == frame[1][-2:]


def test_an_added_segmentation_is_a_new_instance(server):
    fields, interface = interface_of({"blobs": {"type": "instances", "classes": ["blob"]}})
    slug = server.project(interface)
    task, annotation_ids = server.upload(interface, slug, {"blobs": None}, (8, 6))
    ring = [2, 1, 6, 1, 6, 3, 2, 3, 2, 1]
    task = server.edit(
        task, [{"type": "segmentation", "value": "blobs-blob", "points": [[ring], [[0, 5, 1, 5, 1, 6, 0, 6, 0, 5]]]}]
    )
    (label,) = task_to_labels(interface, fields["blobs"], task, annotation_ids, {}).values()
    full = np.zeros((6, 8), dtype=bool)
    full[1:3, 2:6] = True
    full[5, 0] = True
    assert np.array_equal(geometry.instance_to_full_mask(label.bounding_box, label.mask, 8, 6), full)


def test_segmentation_round_trips_exactly_on_a_non_square_image(server):
    fields, interface = interface_of({"seg": {"type": "segmentation", "mask_targets": {1: "sky", 7: "a & b"}}})
    mask = np.zeros((6, 9), dtype=np.uint8)
    mask[0, :] = 1
    mask[2:5, 1:4] = 7
    mask[3, 2] = 0  # a hole
    mask[5, 8] = 7  # another component, in the corner
    mask[4, 5] = 1
    label = fol.Segmentation(mask=mask)
    task, annotation_ids, back = roundtrip(server, interface, {"seg": label}, size=(9, 6))
    assert [a["value"] for a in task["annotations"]] == ["seg-sky", "seg-a_b"]
    assert list(annotation_ids.values()) == [part_id(label.id, 1), part_id(label.id, 7)]
    assert [len(a["points"]) for a in task["annotations"]] == [2, 2]
    (result,) = back["seg"].values()
    assert result.id == label.id and result.mask.dtype == np.uint8
    assert np.array_equal(result.mask, mask)


def test_segmentation_at_another_resolution_than_the_image(server):
    fields, interface = interface_of({"seg": {"type": "segmentation", "mask_targets": {1: "sky"}}})
    mask = np.zeros((3, 4), dtype=np.uint8)
    mask[0, 1:3] = 1
    mask[2, 3] = 1
    label = fol.Segmentation(mask=mask)
    task, annotation_ids, back = roundtrip(server, interface, {"seg": label}, size=(12, 9))
    assert max(max(ring) for region in task["annotations"][0]["points"] for ring in region) == 12
    (result,) = back["seg"].values()
    assert np.array_equal(result.mask, mask)


def test_segmentation_edits_and_erasing_everything(server):
    fields, interface = interface_of({"seg": {"type": "segmentation", "mask_targets": {1: "sky", 2: "tree"}}})
    mask = np.zeros((4, 5), dtype=np.uint8)
    mask[0, :] = 1
    label = fol.Segmentation(mask=mask)
    slug = server.project(interface)
    task, annotation_ids = server.upload(interface, slug, {"seg": label}, (5, 4))
    square = [1, 2, 3, 2, 3, 4, 1, 4, 1, 2]
    task = server.edit(task, editable(task) + [{"type": "segmentation", "value": "seg-tree", "points": [[square]]}])
    (result,) = read(interface, task, annotation_ids, {"seg": label})["seg"].values()
    expected = mask.copy()
    expected[2:4, 1:3] = 2
    assert result.id == label.id and np.array_equal(result.mask, expected)
    task = server.edit(task, [])
    (result,) = read(interface, task, annotation_ids, {"seg": label})["seg"].values()
    assert result.id == label.id and not result.mask.any() and result.mask.shape == (4, 5)


def test_every_field_in_one_task_keeps_its_ids(server):
    fields, interface = full_interface()
    mask = np.zeros((30, 40), dtype=np.uint8)
    mask[5:10, 5:20] = 1
    mask[20:25, 30:35] = 7
    values = {
        "ground_truth": fol.Detections(
            detections=[fol.Detection(label="cat", bounding_box=[0.1, 0.1, 0.5, 0.5], kind="c")]
        ),
        "roads": fol.Polylines(
            polylines=[fol.Polyline(label="road", points=[[(0, 0), (1, 0), (1, 1)]], closed=True, filled=True)]
        ),
        "lanes": fol.Polylines(polylines=[fol.Polyline(label="lane", points=[[(0, 0), (0.5, 0.5)]])]),
        "eyes": fol.Keypoints(keypoints=[fol.Keypoint(label="eye", points=[(0.25, 0.5), (0.75, 0.5)])]),
        "people": fol.Keypoints(
            keypoints=[fol.Keypoint(label="person", points=[(0.1, 0.1), (0.2, 0.2), (NAN, NAN), (0.4, 0.4)])]
        ),
        "blobs": fol.Detections(
            detections=[fol.Detection(label="blob", bounding_box=[0.25, 0.5, 0.05, 0.1], mask=grid("#. ## .#"))]
        ),
        "seg": fol.Segmentation(mask=mask),
        "scene": fol.Classification(label="day"),
        "tags": fol.Classifications(classifications=[fol.Classification(label="x")]),
        "count": 7,
    }
    task, annotation_ids, back = roundtrip(server, interface, values)
    assert len(task["annotations"]) == 12  # eyes: 2 points, seg: 2 classes
    for field, value in values.items():
        if field == "count":
            assert back[field] == 7
            continue
        originals = {label.id: label for label in iter_labels(value)}
        assert set(back[field]) == set(originals), field
        for label_id, label in back[field].items():
            original = originals[label_id]
            if isinstance(label, fol.Segmentation):
                assert np.array_equal(label.mask, original.mask)
                continue
            assert label.label == original.label
            if field in ("roads", "lanes"):
                assert_points_equal(label.points[0], original.points[0])
            elif field in ("eyes", "people"):
                assert_points_equal(label.points, original.points)
            elif field == "blobs":
                assert label.bounding_box == pytest.approx(original.bounding_box) and np.array_equal(
                    label.mask, original.mask
                )
            elif field == "ground_truth":
                assert label.bounding_box == pytest.approx(original.bounding_box) and label.kind == "c"


def test_spatial_fields_need_the_image_size():
    fields, interface = interface_of({"gt": {"type": "detections", "classes": ["a"]}})
    value = fol.Detections(detections=[fol.Detection(label="a", bounding_box=[0, 0, 1, 1])])
    with pytest.raises(ValueError, match="image size"):
        labels_to_task(interface, {"gt": value}, None)
    assert labels_to_task(interface, {"gt": None}, None) == ([], [], [])


# --------------------------------------------------------------------------
# classifications and scalars
# --------------------------------------------------------------------------


def test_classifications_in_an_image_all_project(server):
    fields, interface = full_interface()
    scene = fol.Classification(label="night", sure=True)
    tags = fol.Classifications(classifications=[fol.Classification(label="y z"), fol.Classification(label="x")])
    values = {"scene": scene, "tags": tags, "count": 42}
    task, annotation_ids, back = roundtrip(server, interface, values)
    assert [(a["type"], a["value"], a["points"]) for a in task["annotations"]] == [
        ("classification", "scene", []),
        ("classification", "tags", []),
        ("classification", "count", []),
    ]
    assert [(a["key"], a["value"]) for a in task["annotations"][0]["attributes"]] == [
        ("scene", "night"),
        ("scene__sure", True),
    ]
    assert task["annotations"][1]["attributes"][0]["value"] == ["y_z", "x"]
    assert task["annotations"][2]["attributes"][0]["value"] == "42"
    assert list(annotation_ids.values()) == [scene.id, tags.classifications[0].id, None]
    assert {i: (c.label, c.sure) for i, c in back["scene"].items()} == {scene.id: ("night", True)}
    assert {i: c.label for i, c in back["tags"].items()} == {c.id: c.label for c in tags.classifications}
    assert back["count"] == 42

    # the annotator changes the scene and the tags
    annotations = editable(task)
    annotations[0]["attributes"] = [{"key": "scene", "value": "day"}]
    annotations[1]["attributes"] = [{"key": "tags", "value": ["x"]}]
    task = server.edit(task, annotations)
    back = read(interface, task, annotation_ids, values)
    assert {i: (c.label, c.sure) for i, c in back["scene"].items()} == {scene.id: ("day", False)}
    assert {i: c.label for i, c in back["tags"].items()} == {tags.classifications[1].id: "x"}


def test_classifications_share_their_attributes(caplog):
    fields, interface = interface_of(
        {"tags": {"type": "classifications", "classes": ["a", "b"], "attributes": {"n": {"type": "text"}}}}
    )
    tags = fol.Classifications(
        classifications=[fol.Classification(label="a", n="1"), fol.Classification(label="b", n="2")]
    )
    with caplog.at_level(logging.WARNING):
        annotations, attributes, part_ids = labels_to_task(interface, {"tags": tags}, None)
    assert annotations == [] and part_ids == []  # an image_classification project: task attributes
    assert attributes == [{"key": "tags", "value": ["a", "b"]}, {"key": "tags__n", "value": "1"}]
    assert "disagree" in caplog.text


@pytest.mark.parametrize(
    "field, classes, value, choice",
    [
        (fof.IntField(), None, 42, {"type": "text", "value": "42"}),
        (fof.IntField(), None, 0, {"type": "text", "value": "0"}),
        (fof.FloatField(), None, 0.1, {"type": "text", "value": "0.1"}),
        (fof.FloatField(), None, 1e-20, {"type": "text", "value": "1e-20"}),
        (fof.StringField(), None, 'naïve, "quoted"\nline', {"type": "text", "value": 'naïve, "quoted"\nline'}),
        (fof.BooleanField(), None, False, {"type": "switch", "value": False}),
        (fof.BooleanField(), [True, False], True, {"type": "switch", "value": True}),
        (fof.StringField(), ["x", "y z"], "y z", {"type": "radio", "value": "y_z"}),
        (fof.IntField(), [1, 2, 3], 2, {"type": "radio", "value": "v_2"}),
    ],
)
def test_scalars_round_trip_in_both_project_types(server, field, classes, value, choice):
    schema = {"s": {"type": "scalar", "classes": classes}}
    for mapping in (None, {"project_type": "image_all"}):
        fields, interface = interface_of(schema, FieldTypes(s=field), mapping=mapping)
        task, annotation_ids, back = roundtrip(server, interface, {"s": value})
        if mapping is None:
            assert interface.project_type == "image_classification"
            (item,) = task["attributes"]
        else:
            (annotation,) = task["annotations"]
            (item,) = annotation["attributes"]
        assert (item["key"], item["type"], item["value"]) == ("s", choice["type"], choice["value"])
        assert back["s"] == value and type(back["s"]) is type(value)


def test_scalar_empty_answers():
    fields, interface = interface_of({"n": {"type": "scalar"}}, FieldTypes(n=fof.IntField()))
    spec = fields["n"]
    assert task_to_labels(interface, spec, {"attributes": [{"key": "n", "value": 7}]}, {}, {}) == 7
    assert task_to_labels(interface, spec, {"attributes": [{"key": "n", "value": ""}]}, {}, {}) is None
    assert task_to_labels(interface, spec, {"attributes": []}, {}, {}) is None
    assert labels_to_task(interface, {"n": None}, None) == ([], [], [])


def test_image_classification_project_round_trip(server):
    schema = {
        "scene": {
            "type": "classification",
            "classes": ["day", "night"],
            "attributes": {"sure": {"type": "checkbox"}, "mood": {"type": "select", "values": ["ok", "bad"]}},
        },
        "tags": {"type": "classifications", "classes": ["x", "y z", "w"]},
        "score": {"type": "scalar"},
    }
    fields, interface = interface_of(schema, FieldTypes(score=fof.FloatField()))
    assert interface.project_type == "image_classification"
    assert [(a["key"], a["type"]) for a in interface.classification_attributes()] == [
        ("scene", "radio"),
        ("scene__sure", "switch"),
        ("scene__mood", "select"),
        ("tags", "checkbox"),
        ("score", "text"),
    ]
    scene = fol.Classification(label="day", sure=False, mood="bad")
    tags = fol.Classifications(classifications=[fol.Classification(label="w"), fol.Classification(label="y z")])
    values = {"scene": scene, "tags": tags, "score": 0.25}
    slug = server.project(interface)
    task, _ = server.upload(interface, slug, values, (8, 8))
    assert [(a["key"], a["value"]) for a in task["attributes"]] == [
        ("scene", "day"),
        ("scene__sure", False),
        ("scene__mood", "bad"),
        ("tags", ["w", "y_z"]),
        ("score", "0.25"),
    ]
    back = read(interface, task, {}, values)
    assert {i: (c.label, c.sure, c.mood) for i, c in back["scene"].items()} == {scene.id: ("day", False, "bad")}
    assert {i: c.label for i, c in back["tags"].items()} == {c.id: c.label for c in tags.classifications}
    assert back["score"] == 0.25

    # the annotator's edit: another scene, a new tag, no score
    edited = [{"key": "scene", "value": "night"}, {"key": "tags", "value": ["x", "w"]}]
    task = server.call("PUT", "tasks/image/classification/" + task["id"], json={"attributes": edited})
    back = read(interface, task, {}, values)
    assert {i: (c.label, c.sure, c.mood) for i, c in back["scene"].items()} == {scene.id: ("night", False, None)}
    labels = back["tags"]
    assert labels[tags.classifications[0].id].label == "w"
    (new_id,) = set(labels) - {tags.classifications[0].id}
    assert labels[new_id].label == "x" and is_object_id(new_id)
    assert back["score"] is None


# --------------------------------------------------------------------------
# the editor: edits, additions, deletions by id; unknown values
# --------------------------------------------------------------------------


def test_edits_additions_and_deletions_by_id(server):
    fields, interface = full_interface()
    keep = fol.Detection(label="cat", bounding_box=[0.1, 0.1, 0.2, 0.2], occluded=False, kind="c")
    edit = fol.Detection(label="cat", bounding_box=[0.5, 0.5, 0.25, 0.25], weather=1)
    drop = fol.Detection(label="traffic light", bounding_box=[0.0, 0.0, 0.1, 0.1])
    road = fol.Polyline(
        label="road", points=[[(0, 0), (0.5, 0), (0.5, 0.5)], [(0.6, 0.6), (1, 0.6), (1, 1)]], closed=True, filled=True
    )
    values = {
        "ground_truth": fol.Detections(detections=[keep, edit, drop]),
        "roads": fol.Polylines(polylines=[road]),
    }
    slug = server.project(interface)
    task, annotation_ids = server.upload(interface, slug, values, (40, 40))
    by_part = {part: annotation_id for annotation_id, part in annotation_ids.items()}
    annotations = {a["id"]: a for a in editable(task)}

    changed = annotations[by_part[edit.id]]
    changed["value"] = "ground_truth-traffic_light"
    changed["points"] = [0, 0, 8, 4]
    changed["attributes"] = [
        {"key": "ground_truth__occluded", "value": True},
        {"key": "ground_truth__kind", "value": "a_b"},
    ]
    del annotations[by_part[drop.id]]
    del annotations[by_part[part_id(road.id, 1)]]  # one shape of a polygon
    added = {
        "type": "bbox",
        "value": "ground_truth-cat",
        "points": [20, 20, 40, 30],
        "attributes": [{"key": "ground_truth__note", "value": "new"}],
    }
    task = server.edit(task, list(annotations.values()) + [added])
    assert by_part[edit.id] in {a["id"] for a in task["annotations"]}  # edited in place

    back = read(interface, task, annotation_ids, values)
    labels = back["ground_truth"]
    assert set(labels) - {keep.id, edit.id} and drop.id not in labels
    assert labels[keep.id].bounding_box == pytest.approx(keep.bounding_box) and labels[keep.id].kind == "c"
    moved = labels[edit.id]
    assert moved.label == "traffic light" and moved.bounding_box == pytest.approx([0, 0, 0.2, 0.1])
    assert (moved.occluded, moved.kind, moved.weather, moved.note) == (True, "a b", None, None)
    (new_id,) = set(labels) - {keep.id, edit.id}
    new = labels[new_id]
    assert is_object_id(new_id) and new.label == "cat" and new.bounding_box == pytest.approx([0.5, 0.5, 0.5, 0.25])
    # a new label gets the schema defaults (None here) and False checkboxes
    assert (new.note, new.occluded, new.kind) == ("new", False, None)
    (polygon,) = back["roads"].values()
    assert polygon.id == road.id and len(polygon.points) == 1


def test_an_annotation_of_a_label_deleted_since_comes_back_under_its_uploaded_id(server):
    """As FiftyOne's own backends: the field or label was deleted from the
    dataset after the upload; what the person kept comes back under its id."""
    fields, interface = interface_of({"gt": {"type": "detections", "classes": ["a"]}})
    label = fol.Detection(label="a", bounding_box=[0, 0, 0.5, 0.5])
    slug = server.project(interface)
    task, annotation_ids = server.upload(interface, slug, {"gt": fol.Detections(detections=[label])}, (10, 10))
    labels = task_to_labels(interface, fields["gt"], task, annotation_ids, {})
    assert list(labels) == [label.id] and labels[label.id].bounding_box == pytest.approx([0, 0, 0.5, 0.5])


def test_unknown_classes_and_options_are_skipped_with_a_warning(server, caplog):
    fields, interface = interface_of(
        {
            "scene": {"type": "classification", "classes": ["day"]},
            "gt": {"type": "detections", "classes": ["a"], "attributes": {"size": {"type": "radio", "values": ["s"]}}},
            "other": {"type": "polygons", "classes": ["p"]},
        }
    )
    label = fol.Detection(label="a", bounding_box=[0, 0, 0.5, 0.5], size="s")
    values = {"gt": fol.Detections(detections=[label]), "scene": fol.Classification(label="day")}
    slug = server.project(interface)
    task, annotation_ids = server.upload(interface, slug, values, (10, 10))

    # classes and options added on the server after the upload
    (gt_class,) = server.call("GET", "annotations", params={"project": slug, "value": "gt-a"})
    size = dict(gt_class["attributes"][0])
    size = {
        "key": size["key"],
        "name": size["name"],
        "type": size["type"],
        "options": size["options"] + [{"title": "L", "value": "l"}],
    }
    server.call("PUT", "annotations/" + gt_class["id"], json={"attributes": [size]})
    (scene_class,) = server.call("GET", "annotations", params={"project": slug, "value": "scene"})
    choice = scene_class["attributes"][0]
    choice = {
        "key": "scene",
        "name": "scene",
        "type": "radio",
        "options": choice["options"] + [{"title": "Dusk", "value": "dusk"}],
    }
    server.call("PUT", "annotations/" + scene_class["id"], json={"attributes": [choice]})
    server.call("POST", "annotations", json={"project": slug, "type": "bbox", "value": "intruder", "title": "Intruder"})

    annotations = editable(task)
    assert [a["value"] for a in annotations] == ["scene", "gt-a"]
    annotations[0]["attributes"] = [{"key": "scene", "value": "dusk"}]
    annotations[1]["attributes"] = [{"key": "gt__size", "value": "l"}]
    annotations.append({"type": "bbox", "value": "intruder", "points": [1, 1, 2, 2]})
    task = server.edit(task, annotations)
    with caplog.at_level(logging.WARNING):
        back = read(interface, task, annotation_ids, values)
    assert back["scene"] == {}
    (result,) = back["gt"].values()
    assert result.id == label.id and result.size is None
    assert back["other"] == {}
    assert caplog.text.count("'intruder'") == 1  # warned once per task
    assert "'l'" in caplog.text and "'dusk'" in caplog.text


def test_annotations_of_other_fields_are_ignored():
    fields, interface = interface_of(
        {"a": {"type": "detections", "classes": ["x"]}, "b": {"type": "detections", "classes": ["x"]}}
    )
    assert interface.class_value("a", "x") == "a-x" and interface.class_value("b", "x") == "b-x"
    task = {
        "width": 10,
        "height": 10,
        "annotations": [{"id": "1", "type": "bbox", "value": "b-x", "points": [0, 0, 5, 5]}],
    }
    assert task_to_labels(interface, fields["a"], task, {}, {}) == {}
    (label,) = task_to_labels(interface, fields["b"], task, {}, {}).values()
    assert label.bounding_box == pytest.approx([0, 0, 0.5, 0.5])


# --------------------------------------------------------------------------
# naming (shared with the Kili converter)
# --------------------------------------------------------------------------


def test_naming_keys():
    assert naming.upper_identifier("traffic light", set(), "X_1", "C") == "TRAFFIC_LIGHT"
    assert naming.upper_identifier("1st", set(), "X_1", "C") == "C_1ST"
    assert naming.upper_identifier("猫", set(), "CATEGORY_1", "C") == "CATEGORY_1"
    assert naming.assign_keys(["cat", "Cat", "猫"], {"cat": "WHATEVER"}) == {
        "cat": "WHATEVER",
        "Cat": "CAT",
        "猫": "CATEGORY_3",
    }
    assert naming.unique_strings([1, "1", 2.0, "x"]) == ["1", "2.0", "x"]
    assert naming.lower_identifier("Traffic Light!", {"traffic_light"}, "c_1", "c") == "traffic_light_2"
