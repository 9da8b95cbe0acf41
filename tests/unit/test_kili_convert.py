"""Kili conversions without a server: the jsonInterface, and FiftyOne labels
-> jsonResponse -> FiftyOne labels round trips (through JSON text, as on the
wire) of classifications, boxes, polygons, polylines and keypoints."""

import logging

import fiftyone.core.fields as fof
import fiftyone.core.labels as fol
import pytest
from fiftyone.core.odm.dataset import KeypointSkeleton
from kili_convert_helpers import (
    FieldTypes,
    annotations,
    assert_points_equal,
    bounding_poly,
    interface_of,
    kili_annotation,
    roundtrip,
    vertices,
    wire,
)

from fo_annotation_backends.core.idmap import is_object_id, part_id
from fo_annotation_backends.core.schema import normalize_label_schema
from fo_annotation_backends.kili.convert import (
    CHECKBOX_KEY,
    KiliInterface,
    json_response_to_labels,
    labels_to_json_response,
)

# --------------------------------------------------------------------------
# jsonInterface
# --------------------------------------------------------------------------

TRICKY_CLASSES = ["traffic light", "猫", "a<b & c", 'say "hi"', "Größe 日本", "  padded  ", "it's", "1st", "🐱"]

OBJECT_TOOLS = {
    "detections": "rectangle",
    "polygons": "polygon",
    "polylines": "polyline",
    "instances": "semantic",
    "keypoints": "marker",
}


@pytest.mark.parametrize("label_type", sorted(OBJECT_TOOLS))
def test_object_jobs(label_type):
    fields, interface = interface_of({"ground_truth": {"type": label_type, "classes": ["cat", "traffic light"]}})
    assert interface.json_interface() == {
        "jobs": {
            "GROUND_TRUTH": {
                "mlTask": "OBJECT_DETECTION",
                "tools": [OBJECT_TOOLS[label_type]],
                "instruction": "ground_truth",
                "required": 0,
                "isChild": False,
                "content": {
                    "input": "radio",
                    "categories": {
                        "CAT": {"name": "cat", "children": [], "color": "#472CED"},
                        "TRAFFIC_LIGHT": {"name": "traffic light", "children": [], "color": "#5CE7B7"},
                    },
                },
            }
        }
    }


@pytest.mark.parametrize("label_type, input_type", [("classification", "radio"), ("classifications", "checkbox")])
def test_classification_jobs(label_type, input_type):
    fields, interface = interface_of({"tags": {"type": label_type, "classes": ["indoor", "out door"]}})
    job = interface.json_interface()["jobs"]["TAGS"]
    assert job["mlTask"] == "CLASSIFICATION"
    assert "tools" not in job
    assert job["content"]["input"] == input_type
    assert {k: c["name"] for k, c in job["content"]["categories"].items()} == {
        "INDOOR": "indoor",
        "OUT_DOOR": "out door",
    }
    assert (job["instruction"], job["required"], job["isChild"]) == ("tags", 0, False)


def test_segmentation_job_has_one_category_per_non_zero_mask_target():
    fields, interface = interface_of(
        {"seg": {"type": "segmentation", "mask_targets": {0: "background", 1: "road", 7: "a & b"}}}
    )
    job = interface.json_interface()["jobs"]["SEG"]
    assert job["mlTask"] == "OBJECT_DETECTION" and job["tools"] == ["semantic"]
    assert {k: c["name"] for k, c in job["content"]["categories"].items()} == {"ROAD": "road", "A_B": "a & b"}


def test_pose_job_lists_the_skeleton_points():
    skeleton = KeypointSkeleton(labels=["left eye", "right-eye", "nose", "鼻"], edges=[[0, 1, 2, 3]])
    fields, interface = interface_of({"kp": {"type": "keypoints", "classes": ["person"]}}, skeletons={"kp": skeleton})
    job = interface.json_interface()["jobs"]["KP"]
    assert job["tools"] == ["pose"]
    assert job["content"]["categories"]["PERSON"]["points"] == [
        {"code": "LEFT_EYE", "name": "left eye"},
        {"code": "RIGHT_EYE", "name": "right-eye"},
        {"code": "NOSE", "name": "nose"},
        {"code": "POINT_3", "name": "鼻"},
    ]


def test_pose_job_of_a_skeleton_without_labels_numbers_the_points():
    skeleton = KeypointSkeleton(edges=[[0, 1], [1, 2]])
    fields, interface = interface_of({"kp": {"type": "keypoints", "classes": ["p"]}}, skeletons={"kp": skeleton})
    assert interface.pose_codes("kp") == ["POINT_0", "POINT_1", "POINT_2"]


@pytest.mark.parametrize("label_type", ["detections", "classifications", "keypoints", "instances"])
def test_tricky_class_names_are_kept_exactly(label_type):
    fields, interface = interface_of({"gt": {"type": label_type, "classes": TRICKY_CLASSES}})
    categories = wire(interface.json_interface())["jobs"]["GT"]["content"]["categories"]
    assert [c["name"] for c in categories.values()] == TRICKY_CLASSES
    for key in categories:
        assert key.replace("_", "A").isalnum() and key.isascii() and key[0].isalpha() and key == key.upper()
    assert categories["TRAFFIC_LIGHT"]["name"] == "traffic light"
    assert categories["CATEGORY_2"]["name"] == "猫"
    assert categories["C_1ST"]["name"] == "1st"
    for name in TRICKY_CLASSES:
        assert interface.class_of_key("gt", interface.category_key("gt", name)) == name


def test_colliding_category_keys_are_deduplicated():
    classes = ["a b", "a-b", "A_B", "猫", "犬", "CATEGORY_4"]
    fields, interface = interface_of({"gt": {"type": "detections", "classes": classes}})
    keys = interface.category_keys("gt")
    assert keys == {
        "a b": "A_B",
        "a-b": "A_B_2",
        "A_B": "A_B_3",
        "猫": "CATEGORY_4",
        "犬": "CATEGORY_5",
        "CATEGORY_4": "CATEGORY_4_2",
    }
    # every key leads back to its exact class
    value = fol.Detections(detections=[fol.Detection(label=c, bounding_box=[0.1, 0.1, 0.2, 0.2]) for c in classes])
    _, labels = roundtrip(interface, "gt", value)
    assert sorted(label.label for label in labels.values()) == sorted(classes)


def test_job_names_are_unique_upper_case_identifiers():
    schema = {
        "ground_truth": {"type": "detections", "classes": ["a"], "attributes": {"x": {"type": "text"}}},
        "ground truth": {"type": "classification", "classes": ["a"], "attributes": {"x": {"type": "text"}}},
        "Ground-Truth__x": {"type": "polylines", "classes": ["a"]},
        "3d": {"type": "keypoints", "classes": ["a"]},
    }
    fields, interface = interface_of(schema)
    jobs = interface.json_interface()["jobs"]
    assert interface.job_name("ground_truth") == "GROUND_TRUTH"
    assert interface.job_name("ground truth") == "GROUND_TRUTH_2"
    assert interface.job_name("3d") == "JOB_3D"
    assert interface.attribute_jobs("ground_truth") == {"x": "GROUND_TRUTH__X"}
    names = list(jobs)
    assert len(names) == len(set(names)) == 6
    assert all(n.replace("_", "A").isalnum() and n[0].isalpha() and n == n.upper() for n in names)
    assert {jobs[interface.job_name(f)]["instruction"] for f in schema} == set(schema)


ATTRIBUTES = {
    "occluded": {"type": "checkbox"},
    "color": {"type": "select", "values": ["red", "light blue"]},
    "size": {"type": "radio", "values": [1, 2, 3]},
    "note": {"type": "text"},
}


def test_attributes_are_child_jobs_shared_by_every_category():
    fields, interface = interface_of(
        {"gt": {"type": "detections", "classes": ["cat", "dog"], "attributes": ATTRIBUTES}}
    )
    jobs = interface.json_interface()["jobs"]
    child_names = ["GT__OCCLUDED", "GT__COLOR", "GT__SIZE", "GT__NOTE"]
    assert list(jobs) == ["GT"] + child_names
    for category in jobs["GT"]["content"]["categories"].values():
        assert category["children"] == child_names
    for name in child_names:
        assert jobs[name]["isChild"] is True and jobs[name]["required"] == 0

    assert jobs["GT__OCCLUDED"]["mlTask"] == "CLASSIFICATION"
    assert jobs["GT__OCCLUDED"]["content"]["input"] == "checkbox"
    assert {k: c["name"] for k, c in jobs["GT__OCCLUDED"]["content"]["categories"].items()} == {
        CHECKBOX_KEY: "occluded"
    }
    assert jobs["GT__COLOR"]["content"]["input"] == "radio"
    assert {k: c["name"] for k, c in jobs["GT__COLOR"]["content"]["categories"].items()} == {
        "RED": "red",
        "LIGHT_BLUE": "light blue",
    }
    assert {k: c["name"] for k, c in jobs["GT__SIZE"]["content"]["categories"].items()} == {
        "C_1": "1",
        "C_2": "2",
        "C_3": "3",
    }
    assert jobs["GT__NOTE"]["mlTask"] == "TRANSCRIPTION"
    assert jobs["GT__NOTE"]["content"] == {"input": "textField"}
    assert jobs["GT__NOTE"]["instruction"] == "note"


@pytest.mark.parametrize(
    "field, classes, ml_task, input_type, categories",
    [
        (fof.IntField(), None, "TRANSCRIPTION", "number", None),
        (fof.FloatField(), None, "TRANSCRIPTION", "number", None),
        (fof.StringField(), None, "TRANSCRIPTION", "textField", None),
        (fof.BooleanField(), None, "CLASSIFICATION", "radio", {"TRUE": "True", "FALSE": "False"}),
        (fof.StringField(), ["x", "y z"], "CLASSIFICATION", "radio", {"X": "x", "Y_Z": "y z"}),
    ],
)
def test_scalar_jobs(field, classes, ml_task, input_type, categories):
    fields, interface = interface_of({"s": {"type": "scalar", "classes": classes}}, FieldTypes(s=field))
    job = interface.json_interface()["jobs"]["S"]
    assert job["mlTask"] == ml_task
    assert job["content"]["input"] == input_type
    if categories is None:
        assert "categories" not in job["content"]
    else:
        assert {k: c["name"] for k, c in job["content"]["categories"].items()} == categories


def test_needs_image_size_only_for_masks():
    assert not interface_of({"d": {"type": "detections", "classes": ["a"]}})[1].needs_image_size()
    assert interface_of({"i": {"type": "instances", "classes": ["a"]}})[1].needs_image_size()
    assert interface_of({"s": {"type": "segmentation", "mask_targets": {1: "a"}}})[1].needs_image_size()


# --------------------------------------------------------------------------
# to_dict() and stored mappings
# --------------------------------------------------------------------------


def test_to_dict_is_json_and_rebuilds_the_same_interface():
    schema = {
        "gt": {"type": "detections", "classes": TRICKY_CLASSES, "attributes": ATTRIBUTES},
        "kp": {"type": "keypoints", "classes": ["person"]},
    }
    skeleton = KeypointSkeleton(labels=["a", "b"], edges=[[0, 1]])
    fields, interface = interface_of(schema, skeletons={"kp": skeleton})
    stored = wire(interface.to_dict())
    assert stored == interface.to_dict()
    assert set(stored) == {"version", "jobs", "categories", "attribute_jobs", "attribute_values", "pose_points"}
    assert stored["jobs"] == {"gt": "GT", "kp": "KP"}
    assert stored["categories"]["gt"]["traffic light"] == "TRAFFIC_LIGHT"
    assert stored["attribute_jobs"]["gt"]["color"] == "GT__COLOR"
    assert stored["attribute_values"]["gt"]["size"] == {"1": "C_1", "2": "C_2", "3": "C_3"}
    assert stored["pose_points"] == {"kp": [["A", "a"], ["B", "b"]]}

    again = KiliInterface(fields, mapping=stored)  # no skeleton needed: the mapping has the points
    assert again.json_interface() == interface.json_interface()
    assert again.to_dict() == stored


def test_a_stored_mapping_is_reused_exactly_even_when_unusual():
    fields = normalize_label_schema({"gt": {"type": "detections", "classes": ["cat", "dog"], "attributes": ATTRIBUTES}})
    mapping = {
        "jobs": {"gt": "OBJECT_DETECTION_JOB"},
        "categories": {"gt": {"cat": "FELINE", "dog": "CANINE"}},
        "attribute_jobs": {"gt": {"color": "COLOR_JOB", "occluded": "OCC", "size": "S", "note": "N"}},
        "attribute_values": {
            "gt": {"color": {"red": "R", "light blue": "LB"}, "size": {"1": "ONE", "2": "TWO", "3": "THREE"}}
        },
        "pose_points": {},
    }
    interface = KiliInterface(fields, mapping=mapping)
    jobs = interface.json_interface()["jobs"]
    assert set(jobs) == {"OBJECT_DETECTION_JOB", "COLOR_JOB", "OCC", "S", "N"}
    assert set(jobs["OBJECT_DETECTION_JOB"]["content"]["categories"]) == {"FELINE", "CANINE"}
    assert set(jobs["COLOR_JOB"]["content"]["categories"]) == {"R", "LB"}

    response = {
        "OBJECT_DETECTION_JOB": {
            "annotations": [
                {
                    "mid": "new",
                    "type": "rectangle",
                    "categories": [{"name": "CANINE"}],
                    "boundingPoly": [{"normalizedVertices": [{"x": 0.1, "y": 0.2}, {"x": 0.3, "y": 0.4}]}],
                    "children": {
                        "COLOR_JOB": {"categories": [{"name": "LB"}]},
                        "S": {"categories": [{"name": "THREE"}]},
                    },
                }
            ]
        }
    }
    (label,) = json_response_to_labels(interface, fields["gt"], response, {}).values()
    assert label.label == "dog" and label["color"] == "light blue" and label["size"] == 3


def test_a_mapping_without_a_new_field_or_class_assigns_fresh_names():
    fields, interface = interface_of({"gt": {"type": "detections", "classes": ["a"]}})
    stored = interface.to_dict()
    wider = normalize_label_schema(
        {"gt": {"type": "detections", "classes": ["a", "b"]}, "GT": {"type": "classification", "classes": ["x"]}}
    )
    again = KiliInterface(wider, mapping=stored)
    assert again.job_name("gt") == "GT" and again.job_name("GT") == "GT_2"
    assert again.category_keys("gt") == {"a": "A", "b": "B"}


def test_keys_map_back_through_the_mapping_not_by_rederiving():
    fields = normalize_label_schema({"gt": {"type": "classification", "classes": ["Traffic Light"]}})
    interface = KiliInterface(fields, mapping={"jobs": {"gt": "J"}, "categories": {"gt": {"Traffic Light": "K1"}}})
    labels = json_response_to_labels(interface, fields["gt"], {"J": {"categories": [{"name": "K1"}]}}, {})
    assert [label.label for label in labels.values()] == ["Traffic Light"]


# --------------------------------------------------------------------------
# classifications
# --------------------------------------------------------------------------


def test_classification_round_trip_keeps_id_and_attributes():
    schema = {"cls": {"type": "classification", "classes": ["a b", "猫"], "attributes": ATTRIBUTES}}
    fields, interface = interface_of(schema)
    value = fol.Classification(label="猫", occluded=True, color="light blue", size=2, note="très bien")
    response, labels = roundtrip(interface, "cls", value)
    assert response == {
        "CLS": {
            "categories": [
                {
                    "name": "CATEGORY_2",
                    "confidence": 100,
                    "children": {
                        "CLS__OCCLUDED": {"categories": [{"name": "YES", "confidence": 100}]},
                        "CLS__COLOR": {"categories": [{"name": "LIGHT_BLUE", "confidence": 100}]},
                        "CLS__SIZE": {"categories": [{"name": "C_2", "confidence": 100}]},
                        "CLS__NOTE": {"text": "très bien"},
                    },
                }
            ]
        }
    }
    (label,) = labels.values()
    assert label.id == value.id
    assert (label.label, label["occluded"], label["color"], label["size"], label["note"]) == (
        "猫",
        True,
        "light blue",
        2,
        "très bien",
    )


def test_classification_change_keeps_the_single_id():
    fields, interface = interface_of({"cls": {"type": "classification", "classes": ["a", "b"]}})
    value = fol.Classification(label="a")
    labels = json_response_to_labels(
        interface, fields["cls"], {"CLS": {"categories": [{"name": "B", "confidence": 100}]}}, {value.id: value}
    )
    assert [(i, label.label) for i, label in labels.items()] == [(value.id, "b")]


def test_classifications_are_matched_by_class():
    fields, interface = interface_of(
        {
            "tags": {
                "type": "classifications",
                "classes": ["a", "b", "c"],
                "attributes": {"note": {"type": "text", "default": "d"}},
            }
        }
    )
    a, b = fol.Classification(label="a", note="x"), fol.Classification(label="b")
    value = fol.Classifications(classifications=[a, b])
    response, labels = roundtrip(interface, "tags", value)
    assert {i: (label.label, label["note"]) for i, label in labels.items()} == {a.id: ("a", "x"), b.id: ("b", None)}

    # the annotator unticks "a" and ticks "c"
    edited = {"TAGS": {"categories": [{"name": "B"}, {"name": "C"}]}}
    labels = json_response_to_labels(interface, fields["tags"], edited, {a.id: a, b.id: b})
    assert labels[b.id].label == "b"
    assert a.id not in labels
    (new_id,) = set(labels) - {b.id}
    assert is_object_id(new_id) and labels[new_id].label == "c"
    assert labels[new_id]["note"] == "d"  # the default of a new label


def test_missing_attributes_follow_the_defaults_rule():
    attributes = {"flag": {"type": "checkbox"}, "kind": {"type": "select", "values": ["x", "y"], "default": "y"}}
    schema = {"cls": {"type": "classifications", "classes": ["a", "b"], "attributes": attributes}}
    fields, interface = interface_of(schema)
    existing = fol.Classification(label="a")
    response = {"CLS": {"categories": [{"name": "A"}, {"name": "B"}]}}
    labels = json_response_to_labels(interface, fields["cls"], response, {existing.id: existing})
    assert (labels[existing.id]["flag"], labels[existing.id]["kind"]) == (False, None)
    (new,) = [label for i, label in labels.items() if i != existing.id]
    assert (new["flag"], new["kind"]) == (False, "y")


def test_nothing_to_send_is_an_empty_response():
    fields, interface = interface_of(
        {"cls": {"type": "classification", "classes": ["a"]}, "det": {"type": "detections", "classes": ["a"]}}
    )
    assert labels_to_json_response(interface, {}) == {}
    assert labels_to_json_response(interface, {"cls": None, "det": fol.Detections()}) == {}
    # a field that is not in the response has no labels
    assert json_response_to_labels(interface, fields["det"], {}, {}) == {}


# --------------------------------------------------------------------------
# detections
# --------------------------------------------------------------------------


def test_rectangle_vertices_and_round_trip():
    fields, interface = interface_of({"gt": {"type": "detections", "classes": ["cat"], "attributes": ATTRIBUTES}})
    det = fol.Detection(label="cat", bounding_box=[0.125, 0.25, 0.5, 0.375], occluded=False, color="red", size=3)
    response, labels = roundtrip(interface, "gt", fol.Detections(detections=[det]))
    (annotation,) = annotations(response, interface, "gt")
    assert annotation["mid"] == det.id
    assert annotation["type"] == "rectangle"
    assert annotation["categories"] == [{"name": "CAT", "confidence": 100}]
    assert annotation["boundingPoly"] == [
        {
            "normalizedVertices": [
                {"x": 0.125, "y": 0.625},
                {"x": 0.125, "y": 0.25},
                {"x": 0.625, "y": 0.25},
                {"x": 0.625, "y": 0.625},
            ]
        }
    ]
    # False checkboxes are simply absent
    assert set(annotation["children"]) == {"GT__COLOR", "GT__SIZE"}

    (label,) = labels.values()
    assert label.id == det.id
    assert label.bounding_box == pytest.approx(det.bounding_box)
    assert (label["occluded"], label["color"], label["size"], label["note"]) == (False, "red", 3, None)


def test_rectangles_are_read_in_any_vertex_order():
    fields, interface = interface_of({"gt": {"type": "detections", "classes": ["cat"]}})
    corners = [(0.7, 0.2), (0.1, 0.2), (0.1, 0.6), (0.7, 0.6)]
    for shift in range(4):
        rotated = corners[shift:] + corners[:shift]
        response = {
            "GT": {"annotations": [kili_annotation("m", "CAT", "rectangle", boundingPoly=bounding_poly(*rotated))]}
        }
        (label,) = json_response_to_labels(interface, fields["gt"], response, {}).values()
        assert label.bounding_box == pytest.approx([0.1, 0.2, 0.6, 0.4])


def test_detection_edits_additions_and_deletions_by_id():
    fields, interface = interface_of({"gt": {"type": "detections", "classes": ["cat", "dog"]}})
    keep = fol.Detection(label="cat", bounding_box=[0.1, 0.1, 0.2, 0.2])
    move = fol.Detection(label="cat", bounding_box=[0.5, 0.5, 0.2, 0.2])
    gone = fol.Detection(label="dog", bounding_box=[0.0, 0.0, 0.1, 0.1])
    value = fol.Detections(detections=[keep, move, gone])
    response = wire(labels_to_json_response(interface, {"gt": value}))
    items = annotations(response, interface, "gt")
    items[:] = [item for item in items if item["mid"] != gone.id]
    moved = next(item for item in items if item["mid"] == move.id)
    moved["categories"] = [{"name": "DOG"}]
    moved["boundingPoly"] = bounding_poly((0.6, 0.7), (0.9, 0.8))
    items.append(
        kili_annotation("20240101-123", "DOG", "rectangle", boundingPoly=bounding_poly((0.3, 0.3), (0.4, 0.4)))
    )

    current = {label.id: label for label in value.detections}
    labels = json_response_to_labels(interface, fields["gt"], response, current)
    assert gone.id not in labels
    assert labels[keep.id].bounding_box == pytest.approx(keep.bounding_box)
    assert labels[move.id].label == "dog"
    assert labels[move.id].bounding_box == pytest.approx([0.6, 0.7, 0.3, 0.1])
    (new_id,) = set(labels) - {keep.id, move.id}
    assert is_object_id(new_id) and labels[new_id].bounding_box == pytest.approx([0.3, 0.3, 0.1, 0.1])


def test_a_mid_of_a_deleted_label_makes_a_new_label():
    fields, interface = interface_of({"gt": {"type": "detections", "classes": ["cat"]}})
    det = fol.Detection(label="cat", bounding_box=[0.1, 0.1, 0.2, 0.2])
    response, labels = roundtrip(interface, "gt", fol.Detections(detections=[det]), current={})
    (label_id,) = labels
    assert label_id != det.id


def test_unknown_category_keys_are_skipped_with_a_warning(caplog):
    fields, interface = interface_of({"gt": {"type": "detections", "classes": ["cat"]}})
    box = bounding_poly((0.1, 0.1), (0.2, 0.2))
    response = {
        "GT": {
            "annotations": [
                kili_annotation("a", "ADDED_ON_SERVER", "rectangle", boundingPoly=box),
                kili_annotation("b", "CAT", "rectangle", boundingPoly=box),
            ]
        },
        "OTHER_JOB": {"categories": [{"name": "X"}]},
    }
    with caplog.at_level(logging.WARNING, logger="fo_annotation_backends.kili.convert"):
        labels = json_response_to_labels(interface, fields["gt"], response, {})
    assert [label.label for label in labels.values()] == ["cat"]
    assert "ADDED_ON_SERVER" in caplog.text


def test_jobs_of_other_fields_are_ignored():
    fields, interface = interface_of(
        {"a": {"type": "detections", "classes": ["x"]}, "b": {"type": "classification", "classes": ["x"]}}
    )
    det = fol.Detection(label="x", bounding_box=[0.1, 0.1, 0.2, 0.2])
    response = wire(
        labels_to_json_response(interface, {"a": fol.Detections(detections=[det]), "b": fol.Classification(label="x")})
    )
    assert set(response) == {"A", "B"}
    labels = json_response_to_labels(
        interface, fields["a"], dict(response, UNKNOWN={"annotations": [{}]}), {det.id: det}
    )
    assert list(labels) == [det.id]


# --------------------------------------------------------------------------
# polygons and polylines
# --------------------------------------------------------------------------


def test_polygon_round_trip_with_several_shapes():
    fields, interface = interface_of({"poly": {"type": "polygons", "classes": ["road"], "attributes": ATTRIBUTES}})
    shapes = [[[0.1, 0.1], [0.4, 0.1], [0.3, 0.5]], [[0.6, 0.6], [0.9, 0.6], [0.9, 0.9], [0.6, 0.9]]]
    label = fol.Polyline(label="road", points=shapes, closed=True, filled=True, note="two parts")
    response, labels = roundtrip(interface, "poly", fol.Polylines(polylines=[label]))
    items = annotations(response, interface, "poly")
    assert [item["mid"] for item in items] == [label.id, part_id(label.id, 1)]
    assert [item["type"] for item in items] == ["polygon", "polygon"]
    assert items[0]["boundingPoly"][0]["normalizedVertices"] == [{"x": x, "y": y} for x, y in shapes[0]]
    assert items[0]["children"] == {"POLY__NOTE": {"text": "two parts"}}
    assert items[1]["children"] == {}

    (back,) = labels.values()
    assert back.id == label.id
    assert back.points == shapes
    assert (back.closed, back.filled, back["note"]) == (True, True, "two parts")


def test_polygon_rings_are_open_and_a_closing_vertex_is_dropped_on_read():
    fields, interface = interface_of({"poly": {"type": "polygons", "classes": ["road"]}})
    closed_shape = [[0.1, 0.1], [0.4, 0.1], [0.3, 0.5], [0.1, 0.1]]
    label = fol.Polyline(label="road", points=[closed_shape], closed=True, filled=True)
    response, labels = roundtrip(interface, "poly", fol.Polylines(polylines=[label]))
    assert len(annotations(response, interface, "poly")[0]["boundingPoly"][0]["normalizedVertices"]) == 3
    assert labels[label.id].points == [closed_shape[:3]]

    ring = bounding_poly((0.1, 0.1), (0.5, 0.1), (0.5, 0.5), (0.1, 0.1))
    response = {"POLY": {"annotations": [kili_annotation("n", "ROAD", "polygon", boundingPoly=ring)]}}
    (new,) = json_response_to_labels(interface, fields["poly"], response, {}).values()
    assert new.points == [[[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]]]
    assert (new.closed, new.filled) == (True, True)


def test_polyline_round_trip_keeps_closed_and_filled_of_the_existing_label():
    fields, interface = interface_of({"lines": {"type": "polylines", "classes": ["lane"]}})
    open_line = fol.Polyline(label="lane", points=[[[0.1, 0.2], [0.3, 0.4], [0.5, 0.2]]], closed=False, filled=False)
    odd = fol.Polyline(label="lane", points=[[[0.6, 0.6], [0.7, 0.7]]], closed=True, filled=False)
    response, labels = roundtrip(interface, "lines", fol.Polylines(polylines=[open_line, odd]))
    items = annotations(response, interface, "lines")
    assert items[0]["type"] == "polyline"
    assert items[0]["polyline"] == [{"x": 0.1, "y": 0.2}, {"x": 0.3, "y": 0.4}, {"x": 0.5, "y": 0.2}]
    assert labels[open_line.id].points == open_line.points
    assert (labels[open_line.id].closed, labels[open_line.id].filled) == (False, False)
    assert (labels[odd.id].closed, labels[odd.id].filled) == (True, False)

    # a new polyline follows the field type
    line = kili_annotation("new", "LANE", "polyline", polyline=vertices((0, 0), (1, 1)))
    response = {"LINES": {"annotations": [line]}}
    (new,) = json_response_to_labels(interface, fields["lines"], response, {}).values()
    assert (new.closed, new.filled) == (False, False)


def test_deleting_one_part_of_a_multi_shape_polygon():
    fields, interface = interface_of({"poly": {"type": "polygons", "classes": ["road"]}})
    shapes = [[[0.1, 0.1], [0.4, 0.1], [0.3, 0.5]], [[0.6, 0.6], [0.9, 0.6], [0.9, 0.9]]]
    label = fol.Polyline(label="road", points=shapes, closed=True, filled=True)
    response = wire(labels_to_json_response(interface, {"poly": fol.Polylines(polylines=[label])}))
    del annotations(response, interface, "poly")[0]
    labels = json_response_to_labels(interface, fields["poly"], response, {label.id: label})
    assert labels[label.id].points == shapes[1:]


# --------------------------------------------------------------------------
# keypoints
# --------------------------------------------------------------------------


def test_markers_keep_point_indexes_and_ids():
    fields, interface = interface_of({"kp": {"type": "keypoints", "classes": ["person"], "attributes": ATTRIBUTES}})
    nan = float("nan")
    label = fol.Keypoint(label="person", points=[[0.1, 0.2], [nan, nan], [0.5, 0.6]], size=1)
    response, labels = roundtrip(interface, "kp", fol.Keypoints(keypoints=[label]))
    items = annotations(response, interface, "kp")
    assert [item["mid"] for item in items] == [label.id, part_id(label.id, 2)]
    assert [item["type"] for item in items] == ["marker", "marker"]
    assert items[1]["point"] == {"x": 0.5, "y": 0.6}
    (back,) = labels.values()
    assert back.id == label.id
    assert_points_equal(back.points, label.points)
    assert back["size"] == 1


def marker(mid, key, x, y, children=None):
    return {
        "mid": mid,
        "type": "marker",
        "categories": [{"name": key}],
        "point": {"x": x, "y": y},
        "children": children or {},
    }


def test_added_markers_of_one_class_are_one_keypoint_in_placement_order():
    schema = {"kp": {"type": "keypoints", "classes": ["person", "cat"], "attributes": {"note": {"type": "text"}}}}
    fields, interface = interface_of(schema)
    label = fol.Keypoint(label="person", points=[[0.1, 0.2], [0.3, 0.4]])
    response = wire(labels_to_json_response(interface, {"kp": fol.Keypoints(keypoints=[label])}))
    items = annotations(response, interface, "kp")
    items.pop(0)  # the annotator removes the first point of the uploaded keypoint
    items.append(marker("x1", "PERSON", 0.9, 0.8, {"KP__NOTE": {"text": "first"}}))
    items.append(marker("c1", "CAT", 0.5, 0.5))
    items.append(marker("x2", "PERSON", 0.7, 0.6))
    items.append(marker("x3", "PERSON", 0.1, 0.9))

    labels = json_response_to_labels(interface, fields["kp"], response, {label.id: label})

    assert_points_equal(labels[label.id].points, [[float("nan"), float("nan")], [0.3, 0.4]])
    new = {item.label: item for i, item in labels.items() if i != label.id}
    assert sorted(new) == ["cat", "person"]
    assert_points_equal(new["person"].points, [[0.9, 0.8], [0.7, 0.6], [0.1, 0.9]])
    assert new["person"]["note"] == "first"
    assert_points_equal(new["cat"].points, [[0.5, 0.5]])
    assert all(is_object_id(i) for i in labels)


def test_new_poses_stay_keypoints_of_their_own():
    fields, interface = pose_interface()
    first = [{"code": "NOSE", "point": {"x": 0.1, "y": 0.1}, "type": "marker", "mid": "a"}]
    second = [{"code": "NOSE", "point": {"x": 0.6, "y": 0.6}, "type": "marker", "mid": "b"}]
    response = {
        "KP": {
            "annotations": [
                kili_annotation("p1", "PERSON", "pose", points=first),
                kili_annotation("p2", "PERSON", "pose", points=second),
            ]
        }
    }
    labels = json_response_to_labels(interface, fields["kp"], response, {})
    assert sorted(label.points[0][0] for label in labels.values()) == [0.1, 0.6]


def pose_interface():
    skeleton = KeypointSkeleton(labels=["nose", "left eye", "right eye"], edges=[[1, 0, 2]])
    schema = {"kp": {"type": "keypoints", "classes": ["person", "cat"], "attributes": {"note": {"type": "text"}}}}
    return interface_of(schema, skeletons={"kp": skeleton})


def test_pose_round_trip_with_missing_points():
    fields, interface = pose_interface()
    nan = float("nan")
    label = fol.Keypoint(label="cat", points=[[0.1, 0.2], [nan, nan], [0.5, 0.6]], note="n")
    response, labels = roundtrip(interface, "kp", fol.Keypoints(keypoints=[label]))
    (item,) = annotations(response, interface, "kp")
    assert item["mid"] == label.id and item["type"] == "pose"
    assert item["categories"] == [{"name": "CAT", "confidence": 100}]
    assert item["children"] == {"KP__NOTE": {"text": "n"}}
    assert [(p["code"], p["point"], p["type"]) for p in item["points"]] == [
        ("NOSE", {"x": 0.1, "y": 0.2}, "marker"),
        ("RIGHT_EYE", {"x": 0.5, "y": 0.6}, "marker"),
    ]
    assert len({p["mid"] for p in item["points"]} | {item["mid"]}) == 3
    (back,) = labels.values()
    assert back.id == label.id and back["note"] == "n"
    assert_points_equal(back.points, label.points)


def test_pose_points_read_in_any_order_and_new_poses():
    fields, interface = pose_interface()
    points = [
        {"code": "RIGHT_EYE", "point": {"x": 0.3, "y": 0.3}, "type": "marker", "mid": "a"},
        {"code": "LEFT_EYE", "point": {"x": 0.2, "y": 0.2}, "type": "marker", "mid": "b"},
    ]
    response = {"KP": {"annotations": [kili_annotation("p", "PERSON", "pose", points=points)]}}
    (label,) = json_response_to_labels(interface, fields["kp"], response, {}).values()
    assert label.label == "person"
    assert_points_equal(label.points, [[float("nan"), float("nan")], [0.2, 0.2], [0.3, 0.3]])
    assert label["note"] is None
