"""Label Studio conversions without a server: the labeling config XML, and
FiftyOne labels -> Label Studio results -> FiftyOne labels round trips."""

import math
import xml.etree.ElementTree as ET

import fiftyone.core.fields as fof
import fiftyone.core.labels as fol
import numpy as np
import pytest

from fo_annotation_backends.core.idmap import is_object_id, iter_labels, part_id
from fo_annotation_backends.core.schema import normalize_label_schema
from fo_annotation_backends.labelstudio.convert import IMAGE_TAG, LabelInterface
from fo_annotation_backends.labelstudio.from_labelstudio import foreign_labels, results_to_labels
from fo_annotation_backends.labelstudio.to_labelstudio import labels_to_results


class FieldTypes:
    """Just enough of a sample collection for ``get_field``."""

    def __init__(self, **fields):
        self._fields = fields

    def get_field(self, name):
        return self._fields.get(name)


def interface_of(schema, samples=None):
    fields = normalize_label_schema(schema, samples=samples)
    return fields, LabelInterface(fields)


def roundtrip(spec, interface, value, width=None, height=None, current=None):
    """Uploads ``value`` as results and converts them straight back."""
    results = labels_to_results(spec, interface, value, width, height)
    if current is None:
        current = {label.id: label for label in iter_labels(value)}
    return results, results_to_labels(spec, interface, results, current)


def element_named(root, name):
    (element,) = [e for e in root.iter() if e.get("name") == name]
    return element


def assert_points_equal(actual, expected):
    assert len(actual) == len(expected)
    for (ax, ay), (ex, ey) in zip(actual, expected):
        if math.isnan(ex):
            assert math.isnan(ax) and math.isnan(ay)
        else:
            assert (ax, ay) == (pytest.approx(ex), pytest.approx(ey))


# --------------------------------------------------------------------------
# labeling config
# --------------------------------------------------------------------------

TRICKY_CLASSES = ["a<b", "R&D", 'say "hi"', "it's", "Größe 日本", "two words", "  padded  ", "x>y & z<w"]


@pytest.mark.parametrize(
    "label_type, control, child",
    [
        ("detections", "RectangleLabels", "Label"),
        ("instances", "BrushLabels", "Label"),
        ("polylines", "PolygonLabels", "Label"),
        ("polygons", "PolygonLabels", "Label"),
        ("keypoints", "KeyPointLabels", "Label"),
        ("classification", "Choices", "Choice"),
        ("classifications", "Choices", "Choice"),
    ],
)
def test_xml_keeps_tricky_class_names_exactly(label_type, control, child):
    fields, interface = interface_of({"gt": {"type": label_type, "classes": TRICKY_CLASSES}})
    root = ET.fromstring(interface.to_xml())

    element = element_named(root, interface.tags["gt"])
    assert element.tag == control
    assert element.get("toName") == IMAGE_TAG
    assert [c.get("value") for c in element if c.tag == child] == TRICKY_CLASSES


def test_xml_has_the_image_and_choice_modes():
    fields, interface = interface_of(
        {"one": {"type": "classification", "classes": ["a"]}, "many": {"type": "classifications", "classes": ["a"]}}
    )
    root = ET.fromstring(interface.to_xml())
    assert root.tag == "View"
    image = element_named(root, IMAGE_TAG)
    assert image.tag == "Image" and image.get("value") == "$image"
    assert element_named(root, interface.tags["one"]).get("choice") == "single-radio"
    assert element_named(root, interface.tags["many"]).get("choice") == "multiple"


def test_segmentation_labels_are_the_mask_targets_without_background():
    fields, interface = interface_of(
        {"seg": {"type": "segmentation", "mask_targets": {0: "background", 1: "road", 2: "a & b"}}}
    )
    element = element_named(ET.fromstring(interface.to_xml()), interface.tags["seg"])
    assert element.tag == "BrushLabels"
    assert [c.get("value") for c in element] == ["road", "a & b"]


def test_tag_names_are_unique_identifiers_even_when_field_names_clash():
    schema = {
        "image": {"type": "detections", "classes": ["a"], "attributes": {"x": {"type": "text"}}},
        "ground truth": {"type": "classification", "classes": ["a"], "attributes": {"x": {"type": "text"}}},
        "ground_truth": {"type": "polylines", "classes": ["a"], "attributes": {"x": {"type": "text"}}},
        "ground_truth__x": {"type": "keypoints", "classes": ["a"]},
    }
    fields, interface = interface_of(schema)
    root = ET.fromstring(interface.to_xml())

    names = [e.get("name") for e in root.iter() if e.get("name") is not None]
    assert len(names) == len(set(names))
    assert all(n.replace("_", "a").isalnum() and n[0].isalpha() for n in names)
    assert set(names) == interface.required_tags() | {IMAGE_TAG}
    assert interface.tags["image"] != IMAGE_TAG
    assert interface.tags["ground truth"] != interface.tags["ground_truth"]
    assert interface.field_of_tag == {tag: field for field, tag in interface.tags.items()}


def test_region_attribute_controls_are_per_region():
    schema = {
        "det": {
            "type": "detections",
            "classes": ["cat"],
            "attributes": {
                "occluded": {"type": "checkbox"},
                "color": {"type": "select", "values": ["red", "blue"]},
                "size": {"type": "radio", "values": [1, 2]},
                "note": {"type": "text"},
            },
        }
    }
    fields, interface = interface_of(schema)
    root = ET.fromstring(interface.to_xml())
    tags = interface.attribute_tags["det"]
    assert set(tags) == {"occluded", "color", "size", "note"}

    controls = {name: element_named(root, tag) for name, tag in tags.items()}
    for element in controls.values():
        assert element.get("perRegion") == "true"
        assert element.get("toName") == IMAGE_TAG

    assert controls["occluded"].tag == "Choices"
    assert controls["occluded"].get("choice") == "multiple"
    assert [c.get("value") for c in controls["occluded"]] == ["occluded"]
    assert controls["color"].tag == "Choices"
    assert controls["color"].get("choice") == "single"
    assert [c.get("value") for c in controls["color"]] == ["red", "blue"]
    assert controls["size"].get("choice") == "single-radio"
    assert [c.get("value") for c in controls["size"]] == ["1", "2"]
    assert controls["note"].tag == "TextArea"


def test_classification_attribute_controls_show_when_a_choice_is_selected():
    schema = {"cls": {"type": "classification", "classes": ["a"], "attributes": {"note": {"type": "text"}}}}
    fields, interface = interface_of(schema)
    element = element_named(ET.fromstring(interface.to_xml()), interface.attribute_tags["cls"]["note"])
    assert element.get("perRegion") is None
    assert element.get("visibleWhen") == "choice-selected"
    assert element.get("whenTagName") == interface.tags["cls"]


@pytest.mark.parametrize(
    "field, classes, tag, extra",
    [
        (fof.IntField(), None, "Number", {}),
        (fof.FloatField(), None, "Number", {"step": "any"}),
        (fof.StringField(), None, "TextArea", {}),
        (fof.BooleanField(), None, "Choices", {}),
        (fof.StringField(), ["x", "y z"], "Choices", {}),
    ],
)
def test_scalar_controls(field, classes, tag, extra):
    schema = {"s": {"type": "scalar", "classes": classes, "existing_field": True}}
    fields, interface = interface_of(schema, FieldTypes(s=field))
    element = element_named(ET.fromstring(interface.to_xml()), interface.tags["s"])
    assert element.tag == tag
    for key, value in extra.items():
        assert element.get(key) == value
    if tag == "Choices":
        assert [c.get("value") for c in element] == (classes or ["True", "False"])


def test_stored_tags_rebuild_the_same_interface():
    schema = {"a b": {"type": "detections", "classes": ["x"], "attributes": {"n": {"type": "text"}}}}
    fields, interface = interface_of(schema)
    again = LabelInterface(fields, interface.tags, interface.attribute_tags)
    assert again.to_xml() == interface.to_xml()


# --------------------------------------------------------------------------
# detections and attributes
# --------------------------------------------------------------------------

DETECTION_SCHEMA = {
    "det": {
        "type": "detections",
        "classes": ["cat", "dog"],
        "attributes": {
            "occluded": {"type": "checkbox"},
            "color": {"type": "select", "values": ["red", "blue"], "default": "red"},
            "size": {"type": "radio", "values": [1, 2, 3]},
            "note": {"type": "text"},
        },
    }
}


def test_detections_with_attributes_round_trip_under_their_ids():
    fields, interface = interface_of(DETECTION_SCHEMA)
    spec = fields["det"]
    d1 = fol.Detection(
        label="cat", bounding_box=[0.1, 0.2, 0.3, 0.4], occluded=True, color="blue", size=2, note="a <b> & c"
    )
    d2 = fol.Detection(label="dog", bounding_box=[0.5, 0.5, 0.25, 0.125], occluded=False, size=3)
    value = fol.Detections(detections=[d1, d2])

    results, labels = roundtrip(spec, interface, value)

    boxes = [r for r in results if r["type"] == "rectanglelabels"]
    assert [r["id"] for r in boxes] == [d1.id, d2.id]
    assert boxes[0]["value"]["rectanglelabels"] == ["cat"]
    assert boxes[0]["value"]["x"] == pytest.approx(10.0)
    assert boxes[0]["value"]["height"] == pytest.approx(40.0)
    # attribute results share their region's id and geometry
    attr_results = [r for r in results if r["from_name"] != interface.tags["det"]]
    assert {r["id"] for r in attr_results} == {d1.id, d2.id}
    assert all(r["value"]["x"] == pytest.approx(10.0) for r in attr_results if r["id"] == d1.id)

    assert set(labels) == {d1.id, d2.id}
    cat, dog = labels[d1.id], labels[d2.id]
    assert isinstance(cat, fol.Detection)
    assert cat.id == d1.id and dog.id == d2.id
    assert (cat.label, dog.label) == ("cat", "dog")
    assert cat.bounding_box == [pytest.approx(v) for v in d1.bounding_box]
    assert dog.bounding_box == [pytest.approx(v) for v in d2.bounding_box]
    assert cat.occluded is True
    assert cat.color == "blue"
    assert cat.size == 2 and isinstance(cat.size, int)
    assert cat.note == "a <b> & c"
    assert dog.occluded is False
    assert dog.color is None  # existing label, attribute unset: not defaulted
    assert dog.size == 3
    assert dog.note is None


def test_region_with_unknown_id_becomes_a_new_label_with_defaults():
    fields, interface = interface_of(DETECTION_SCHEMA)
    spec = fields["det"]
    tag, size_tag = interface.tags["det"], interface.attribute_tags["det"]["size"]
    geometry = {"x": 10.0, "y": 20.0, "width": 30.0, "height": 40.0, "rotation": 0}
    items = [
        {
            "id": "Ls_Xy12ab",
            "from_name": tag,
            "to_name": IMAGE_TAG,
            "type": "rectanglelabels",
            "value": dict(geometry, rectanglelabels=["dog"]),
        },
        {
            "id": "Ls_Xy12ab",
            "from_name": size_tag,
            "to_name": IMAGE_TAG,
            "type": "choices",
            "value": dict(geometry, choices=["3"]),
        },
    ]

    labels = results_to_labels(spec, interface, items, {})

    ((label_id, label),) = labels.items()
    assert label_id == label.id
    assert label_id != "Ls_Xy12ab"
    assert is_object_id(label_id)
    assert label.label == "dog"
    assert label.bounding_box == [pytest.approx(v) for v in (0.1, 0.2, 0.3, 0.4)]
    assert label.size == 3
    assert label.color == "red"  # the schema default
    assert label.occluded is False
    assert label.note is None


def test_region_id_of_a_label_no_longer_in_the_dataset_gets_a_new_id():
    fields, interface = interface_of(DETECTION_SCHEMA)
    spec = fields["det"]
    gone = fol.Detection(label="cat", bounding_box=[0.1, 0.1, 0.2, 0.2])
    results = labels_to_results(spec, interface, fol.Detections(detections=[gone]))

    labels = results_to_labels(spec, interface, results, {})

    ((label_id, label),) = labels.items()
    assert label_id != gone.id
    assert is_object_id(label_id)
    assert label.label == "cat"


def test_deleted_region_is_absent_and_other_fields_are_ignored():
    schema = dict(DETECTION_SCHEMA, other={"type": "detections", "classes": ["cat"]})
    fields, interface = interface_of(schema)
    d1, d2 = (
        fol.Detection(label="cat", bounding_box=[0, 0, 0.5, 0.5]),
        fol.Detection(label="dog", bounding_box=[0.5, 0.5, 0.5, 0.5]),
    )
    o1 = fol.Detection(label="cat", bounding_box=[0.2, 0.2, 0.1, 0.1])
    results = labels_to_results(fields["det"], interface, fol.Detections(detections=[d1, d2]))
    results += labels_to_results(fields["other"], interface, fol.Detections(detections=[o1]))
    kept = [r for r in results if r["id"] != d2.id]

    labels = results_to_labels(fields["det"], interface, kept, {d1.id: d1, d2.id: d2})
    other = results_to_labels(fields["other"], interface, kept, {o1.id: o1})

    assert list(labels) == [d1.id]
    assert list(other) == [o1.id]


def test_rotated_rectangle_becomes_its_enclosing_upright_box():
    fields, interface = interface_of(DETECTION_SCHEMA)
    spec = fields["det"]
    det = fol.Detection(label="cat", bounding_box=[0.1, 0.2, 0.3, 0.1])
    items = labels_to_results(spec, interface, fol.Detections(detections=[det]), 200, 100)
    (box_item,) = [r for r in items if r["type"] == "rectanglelabels"]
    assert (box_item["original_width"], box_item["original_height"]) == (200, 100)
    box_item["value"]["rotation"] = 90

    labels = results_to_labels(spec, interface, [box_item], {det.id: det})

    # pixels: x=20, y=20, w=60, h=10, rotated 90 degrees about (20, 20)
    # -> corners (20,20) (20,80) (10,80) (10,20) -> box x 10..20, y 20..80
    assert labels[det.id].bounding_box == [pytest.approx(v) for v in (0.05, 0.2, 0.05, 0.6)]


def test_rotated_rectangle_is_clipped_to_the_image():
    fields, interface = interface_of(DETECTION_SCHEMA)
    spec = fields["det"]
    item = {
        "id": "r1",
        "from_name": interface.tags["det"],
        "to_name": IMAGE_TAG,
        "type": "rectanglelabels",
        "original_width": 100,
        "original_height": 100,
        "value": {"x": 5.0, "y": 5.0, "width": 20.0, "height": 10.0, "rotation": 180, "rectanglelabels": ["cat"]},
    }
    ((label,),) = [list(results_to_labels(spec, interface, [item], {}).values())]
    assert label.bounding_box == [pytest.approx(v) for v in (0.0, 0.0, 0.05, 0.05)]


# --------------------------------------------------------------------------
# classifications
# --------------------------------------------------------------------------


def test_classification_with_attributes_round_trips_under_its_id():
    schema = {
        "cls": {
            "type": "classification",
            "classes": ["a", "b & c"],
            "attributes": {"verified": {"type": "checkbox"}, "quality": {"type": "select", "values": ["good", "bad"]}},
        }
    }
    fields, interface = interface_of(schema)
    spec = fields["cls"]
    label = fol.Classification(label="b & c", verified=True, quality="bad")

    results, labels = roundtrip(spec, interface, label)

    assert results[0]["id"] == label.id
    assert results[0]["value"] == {"choices": ["b & c"]}
    assert list(labels) == [label.id]
    out = labels[label.id]
    assert isinstance(out, fol.Classification)
    assert out.label == "b & c"
    assert out.verified is True
    assert out.quality == "bad"


def test_changed_classification_keeps_the_id_of_the_current_label():
    fields, interface = interface_of({"cls": {"type": "classification", "classes": ["a", "b"]}})
    spec = fields["cls"]
    label = fol.Classification(label="a")
    results = labels_to_results(spec, interface, label)
    results[0]["value"]["choices"] = ["b"]

    labels = results_to_labels(spec, interface, results, {label.id: label})

    assert list(labels) == [label.id]
    assert labels[label.id].label == "b"


def test_new_classification_gets_a_new_id():
    fields, interface = interface_of({"cls": {"type": "classification", "classes": ["a", "b"]}})
    spec = fields["cls"]
    item = {
        "id": "x1",
        "from_name": interface.tags["cls"],
        "to_name": IMAGE_TAG,
        "type": "choices",
        "value": {"choices": ["b"]},
    }

    ((label_id, label),) = results_to_labels(spec, interface, [item], {}).items()

    assert is_object_id(label_id) and label_id == label.id
    assert label.label == "b"


def test_classifications_round_trip_and_edits_keep_ids_by_class():
    fields, interface = interface_of({"tags": {"type": "classifications", "classes": ["a", "b", "c"]}})
    spec = fields["tags"]
    ca, cc = fol.Classification(label="a"), fol.Classification(label="c")
    value = fol.Classifications(classifications=[ca, cc])

    results, labels = roundtrip(spec, interface, value)

    assert len(results) == 1
    assert results[0]["value"]["choices"] == ["a", "c"]
    assert {i: label.label for i, label in labels.items()} == {ca.id: "a", cc.id: "c"}

    # the annotator unticks "c" and ticks "b"
    results[0]["value"]["choices"] = ["a", "b"]
    labels = results_to_labels(spec, interface, results, {ca.id: ca, cc.id: cc})
    assert labels[ca.id].label == "a"
    assert cc.id not in labels
    ((new_id, new),) = [(i, label) for i, label in labels.items() if i != ca.id]
    assert new.label == "b" and is_object_id(new_id)


def test_classifications_attributes_are_image_level():
    schema = {
        "tags": {
            "type": "classifications",
            "classes": ["a", "b"],
            "attributes": {"reviewed": {"type": "checkbox"}, "source": {"type": "select", "values": ["x", "y"]}},
        }
    }
    fields, interface = interface_of(schema)
    spec = fields["tags"]
    ca, cb = fol.Classification(label="a", reviewed=True), fol.Classification(label="b", source="y")

    _, labels = roundtrip(spec, interface, fol.Classifications(classifications=[ca, cb]))

    # the first label that sets an attribute provides it for all of them
    assert {i: (label.label, label.reviewed, label.source) for i, label in labels.items()} == {
        ca.id: ("a", True, "y"),
        cb.id: ("b", True, "y"),
    }


def test_unticked_checkbox_result_is_false():
    fields, interface = interface_of(DETECTION_SCHEMA)
    spec = fields["det"]
    det = fol.Detection(label="cat", bounding_box=[0.1, 0.1, 0.2, 0.2], occluded=True)
    results = labels_to_results(spec, interface, fol.Detections(detections=[det]))
    occluded_tag = interface.attribute_tags["det"]["occluded"]
    (checkbox,) = [r for r in results if r["from_name"] == occluded_tag]
    checkbox["value"]["choices"] = []

    labels = results_to_labels(spec, interface, results, {det.id: det})

    assert labels[det.id].occluded is False


# --------------------------------------------------------------------------
# polylines, polygons, keypoints
# --------------------------------------------------------------------------


def test_multi_shape_polyline_round_trips_with_part_ids():
    fields, interface = interface_of(
        {"lines": {"type": "polylines", "classes": ["road"], "attributes": {"lanes": {"type": "text"}}}}
    )
    spec = fields["lines"]
    shapes = [[(0.1, 0.1), (0.2, 0.2), (0.3, 0.1)], [(0.5, 0.5), (0.6, 0.6)]]
    line = fol.Polyline(label="road", points=shapes, closed=False, filled=False, lanes="2")

    results, labels = roundtrip(spec, interface, fol.Polylines(polylines=[line]))

    regions = [r for r in results if r["from_name"] == interface.tags["lines"]]
    assert [r["id"] for r in regions] == [line.id, line.id + "_1"]
    assert regions[1]["value"]["points"] == [
        [pytest.approx(50.0), pytest.approx(50.0)],
        [pytest.approx(60.0), pytest.approx(60.0)],
    ]
    assert list(labels) == [line.id]
    out = labels[line.id]
    assert isinstance(out, fol.Polyline)
    assert out.label == "road"
    assert len(out.points) == 2
    for actual, expected in zip(out.points, shapes):
        assert_points_equal(actual, expected)
    assert out.closed is False and out.filled is False
    assert out.lanes == "2"


@pytest.mark.parametrize(
    "label_type, closed, filled",
    [
        ("polygons", True, True),
        ("polygons", True, False),  # an outline: not the polygon default
        ("polylines", True, False),  # a closed polyline: not the polyline default
        ("polylines", False, False),
    ],
)
def test_existing_shapes_keep_closed_and_filled(label_type, closed, filled):
    fields, interface = interface_of({"poly": {"type": label_type, "classes": ["roof"]}})
    spec = fields["poly"]
    shape = fol.Polyline(label="roof", points=[[(0.1, 0.1), (0.4, 0.1), (0.25, 0.3)]], closed=closed, filled=filled)

    _, labels = roundtrip(spec, interface, fol.Polylines(polylines=[shape]))

    out = labels[shape.id]
    assert (out.closed, out.filled) == (closed, filled)
    assert_points_equal(out.points[0], shape.points[0])


@pytest.mark.parametrize("label_type", ["polygons", "polylines"])
@pytest.mark.parametrize("closed", [True, False, None])
def test_new_shapes_are_closed_and_filled_as_the_polygon_tool_drew_them(label_type, closed):
    # Label Studio has a polygon tool only: its shapes are closed, filled
    # polygons (FiftyOne's built-in reads them so) unless the region says open
    fields, interface = interface_of({"f": {"type": label_type, "classes": ["x"]}})
    value = {"points": [[10, 10], [50, 10], [30, 40]], "polygonlabels": ["x"]}
    if closed is not None:
        value["closed"] = closed
    item = {
        "id": "new1",
        "from_name": interface.tags["f"],
        "to_name": IMAGE_TAG,
        "type": "polygonlabels",
        "value": value,
    }

    ((label,),) = [list(results_to_labels(fields["f"], interface, [item], {}).values())]

    expected = closed is not False
    assert label.closed is expected and label.filled is expected
    assert_points_equal(label.points[0], [(0.1, 0.1), (0.5, 0.1), (0.3, 0.4)])


def test_keypoints_round_trip_and_a_missing_point_keeps_its_index():
    fields, interface = interface_of({"kp": {"type": "keypoints", "classes": ["person"]}})
    spec = fields["kp"]
    nan = float("nan")
    points = [(0.1, 0.2), (nan, nan), (0.5, 0.6), (0.7, 0.8)]
    keypoint = fol.Keypoint(label="person", points=points)

    results, labels = roundtrip(spec, interface, fol.Keypoints(keypoints=[keypoint]))

    assert [r["id"] for r in results] == [keypoint.id, keypoint.id + "_2", keypoint.id + "_3"]
    out = labels[keypoint.id]
    assert list(labels) == [keypoint.id]
    assert out.label == "person"
    assert_points_equal(out.points, points)


def test_trailing_missing_keypoints_are_kept_from_the_current_label():
    fields, interface = interface_of({"kp": {"type": "keypoints", "classes": ["person"]}})
    spec = fields["kp"]
    nan = float("nan")
    keypoint = fol.Keypoint(label="person", points=[(0.1, 0.2), (nan, nan), (nan, nan)])

    _, labels = roundtrip(spec, interface, fol.Keypoints(keypoints=[keypoint]))

    assert_points_equal(labels[keypoint.id].points, [(0.1, 0.2), (nan, nan), (nan, nan)])


def test_keypoint_added_by_the_annotator_is_a_new_label():
    fields, interface = interface_of({"kp": {"type": "keypoints", "classes": ["person", "dog"]}})
    spec = fields["kp"]
    keypoint = fol.Keypoint(label="person", points=[(0.1, 0.2)])
    results = labels_to_results(spec, interface, fol.Keypoints(keypoints=[keypoint]))
    results.append(
        {
            "id": "added1",
            "from_name": interface.tags["kp"],
            "to_name": IMAGE_TAG,
            "type": "keypointlabels",
            "value": {"x": 30.0, "y": 40.0, "width": 0.75, "keypointlabels": ["dog"]},
        }
    )

    labels = results_to_labels(spec, interface, results, {keypoint.id: keypoint})

    assert len(labels) == 2
    ((new_id, new),) = [(i, label) for i, label in labels.items() if i != keypoint.id]
    assert is_object_id(new_id)
    assert new.label == "dog"
    assert_points_equal(new.points, [(0.3, 0.4)])


# --------------------------------------------------------------------------
# masks
# --------------------------------------------------------------------------


def test_instance_mask_round_trips_exactly_on_a_pixel_aligned_box():
    fields, interface = interface_of({"inst": {"type": "instances", "classes": ["blob"]}})
    spec = fields["inst"]
    mask = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 1], [0, 0, 1]], dtype=bool)
    det = fol.Detection(label="blob", bounding_box=[0.2, 0.25, 0.3, 0.5], mask=mask)

    results, labels = roundtrip(spec, interface, fol.Detections(detections=[det]), width=10, height=8)

    assert results[0]["id"] == det.id
    assert results[0]["value"]["format"] == "rle"
    assert (results[0]["original_width"], results[0]["original_height"]) == (10, 8)
    out = labels[det.id]
    assert out.label == "blob"
    assert out.bounding_box == [0.2, 0.25, 0.3, 0.5]
    assert np.array_equal(np.asarray(out.mask, dtype=bool), mask)


def test_instances_need_the_image_size():
    fields, interface = interface_of({"inst": {"type": "instances", "classes": ["blob"]}})
    det = fol.Detection(label="blob", bounding_box=[0.2, 0.25, 0.3, 0.5], mask=np.ones((2, 2), dtype=bool))
    with pytest.raises(ValueError, match="image size"):
        labels_to_results(fields["inst"], interface, fol.Detections(detections=[det]))


def test_segmentation_round_trips_mask_values_under_its_id():
    schema = {"seg": {"type": "segmentation", "mask_targets": {0: "background", 1: "road", 7: "car"}}}
    fields, interface = interface_of(schema)
    spec = fields["seg"]
    mask = np.zeros((8, 10), dtype=np.uint8)
    mask[0:3, 0:10] = 1
    mask[4:7, 2:5] = 7
    mask[5, 8] = 7
    segmentation = fol.Segmentation(mask=mask)

    results, labels = roundtrip(
        spec, interface, segmentation, width=10, height=8, current={segmentation.id: segmentation}
    )

    assert sorted(r["id"] for r in results) == sorted([part_id(segmentation.id, 1), part_id(segmentation.id, 7)])
    assert sorted(r["value"]["brushlabels"][0] for r in results) == ["car", "road"]
    assert list(labels) == [segmentation.id]
    out = labels[segmentation.id].get_mask()
    assert out.shape == (8, 10)
    assert np.array_equal(out, mask)


def test_segmentation_at_another_resolution_is_resized_to_the_image():
    fields, interface = interface_of({"seg": {"type": "segmentation", "mask_targets": {2: "road", 9: "car"}}})
    spec = fields["seg"]
    small = np.full((4, 5), 2, dtype=np.uint8)
    small[2:, :] = 9
    segmentation = fol.Segmentation(mask=small)

    _, labels = roundtrip(spec, interface, segmentation, width=10, height=8, current={segmentation.id: segmentation})

    # nearest neighbour: no blended values that would belong to no class
    expected = np.full((8, 10), 2, dtype=np.uint8)
    expected[4:, :] = 9
    assert np.array_equal(labels[segmentation.id].get_mask(), expected)


# --------------------------------------------------------------------------
# scalars
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, classes, value",
    [
        (fof.IntField(), None, 7),
        (fof.FloatField(), None, 2.5),
        (fof.BooleanField(), None, True),
        (fof.BooleanField(), None, False),
        (fof.StringField(), None, "hello <world> & 日本"),
        (fof.StringField(), ["x", "y z"], "y z"),
    ],
)
def test_scalar_round_trips_with_its_type(field, classes, value):
    schema = {"s": {"type": "scalar", "classes": classes, "existing_field": True}}
    fields, interface = interface_of(schema, FieldTypes(s=field))
    spec = fields["s"]

    results, out = roundtrip(spec, interface, value, current={})

    assert len(results) == 1
    assert results[0]["from_name"] == interface.tags["s"]
    assert out == value
    assert type(out) is type(value)


def test_missing_scalar_has_no_results_and_comes_back_none():
    fields, interface = interface_of({"s": {"type": "scalar"}}, FieldTypes(s=fof.IntField()))
    spec = fields["s"]
    assert labels_to_results(spec, interface, None) == []
    assert results_to_labels(spec, interface, [], {}) is None


def test_a_new_scalar_field_without_classes_is_a_number():
    # FiftyOne's built-in backend makes a <Number> control for it
    fields, interface = interface_of({"count": {"type": "scalar", "existing_field": False}}, FieldTypes())
    spec = fields["count"]
    element = element_named(ET.fromstring(interface.to_xml()), interface.tags["count"])
    assert element.tag == "Number"
    for typed, expected in ((7, 7), (2.5, 2.5), (3.0, 3)):
        item = {
            "from_name": interface.tags["count"],
            "to_name": IMAGE_TAG,
            "type": "number",
            "value": {"number": typed},
        }
        out = results_to_labels(spec, interface, [item], {})
        assert out == expected and type(out) is type(expected)


def test_a_regression_value_is_uploaded_as_a_number():
    fields, interface = interface_of({"count": {"type": "scalar", "existing_field": False}}, FieldTypes())
    (result,) = labels_to_results(fields["count"], interface, fol.Regression(value=42))
    assert (result["type"], result["value"]) == ("number", {"number": 42})


def test_plain_field_names_are_the_control_names():
    # code written for FiftyOne's built-in backend addresses controls by field name
    schema = {
        "new_field-keypoints": {"type": "keypoints", "classes": ["a"]},
        "x y": {"type": "classification", "classes": ["a"]},
    }
    fields, interface = interface_of(schema)
    assert interface.tags["new_field-keypoints"] == "new_field-keypoints"
    assert interface.tags["x y"] == "x_y"


def _point(tag, label, x, y, region_id=None):
    item = {
        "from_name": tag,
        "to_name": IMAGE_TAG,
        "type": "keypointlabels",
        "value": {"x": x, "y": y, "width": 0.34, "keypointlabels": [label]},
    }
    if region_id is not None:
        item["id"] = region_id
    return item


def test_new_points_of_one_class_in_a_task_are_one_keypoint_in_placement_order():
    fields, interface = interface_of({"kp": {"type": "keypoints", "classes": ["Tail", "LEye", "REye"]}})
    spec, tag = fields["kp"], interface.tags["kp"]
    tail = [_point(tag, "Tail", 10.0 * k, 5.0 * k) for k in range(1, 6)]  # no region ids (made through the API)
    eyes = [
        _point(tag, "LEye", 39.0, 81.0, "r1"),
        _point(tag, "REye", 42.4, 89.4, "r2"),
        _point(tag, "LEye", 33.3, 77.1, "r3"),
        _point(tag, "REye", 42.4, 74.5, "r4"),
    ]

    (only,) = results_to_labels(spec, interface, tail, {}).values()
    assert only.label == "Tail"
    assert_points_equal(only.points, [(0.1 * k, 0.05 * k) for k in range(1, 6)])

    by_class = {k.label: k for k in results_to_labels(spec, interface, eyes, {}).values()}
    assert sorted(by_class) == ["LEye", "REye"]
    assert_points_equal(by_class["LEye"].points, [(0.39, 0.81), (0.333, 0.771)])
    assert_points_equal(by_class["REye"].points, [(0.424, 0.894), (0.424, 0.745)])


def test_uploaded_keypoints_stay_their_own_keypoints_next_to_new_points():
    fields, interface = interface_of({"kp": {"type": "keypoints", "classes": ["person"]}})
    spec, tag = fields["kp"], interface.tags["kp"]
    first = fol.Keypoint(label="person", points=[(0.1, 0.1), (0.2, 0.2)])
    second = fol.Keypoint(label="person", points=[(0.5, 0.5)])
    results = labels_to_results(spec, interface, fol.Keypoints(keypoints=[first, second]))
    results += [_point(tag, "person", 70.0, 70.0, "new1"), _point(tag, "person", 80.0, 80.0, "new2")]

    labels = results_to_labels(spec, interface, results, {first.id: first, second.id: second})

    assert len(labels) == 3
    assert_points_equal(labels[first.id].points, first.points)
    assert_points_equal(labels[second.id].points, second.points)
    (new,) = [label for i, label in labels.items() if i not in (first.id, second.id)]
    assert_points_equal(new.points, [(0.7, 0.7), (0.8, 0.8)])


def test_regions_without_ids_are_separate_labels():
    fields, interface = interface_of({"gt": {"type": "detections", "classes": ["a", "b"]}})
    spec, tag = fields["gt"], interface.tags["gt"]
    boxes = [
        {
            "from_name": tag,
            "to_name": IMAGE_TAG,
            "type": "rectanglelabels",
            "value": {"x": 10.0 * k, "y": 10.0, "width": 5.0, "height": 5.0, "rotation": 0, "rectanglelabels": ["a"]},
        }
        for k in range(3)
    ]
    labels = results_to_labels(spec, interface, boxes, {})
    assert sorted(d.bounding_box[0] for d in labels.values()) == pytest.approx([0.0, 0.1, 0.2])


def test_an_erased_segmentation_is_an_all_zero_mask_under_its_id():
    fields, interface = interface_of({"seg": {"type": "segmentation", "mask_targets": {1: "road"}}})
    mask = np.zeros((8, 10), dtype=np.uint8)
    mask[2:5, 3:7] = 1
    segmentation = fol.Segmentation(mask=mask)

    labels = results_to_labels(fields["seg"], interface, [], {segmentation.id: segmentation})

    assert list(labels) == [segmentation.id]
    erased = labels[segmentation.id].get_mask()
    assert erased.shape == (8, 10) and not erased.any()
    assert results_to_labels(fields["seg"], interface, [], {}) == {}


def test_regions_a_load_made_labels_of_keep_those_ids_on_the_next_load():
    fields, interface = interface_of(
        {"kp": {"type": "keypoints", "classes": ["a"]}, "gt": {"type": "detections", "classes": ["a"]}}
    )
    box = {
        "id": "box1",
        "from_name": interface.tags["gt"],
        "to_name": IMAGE_TAG,
        "type": "rectanglelabels",
        "value": {"x": 10.0, "y": 10.0, "width": 5.0, "height": 5.0, "rotation": 0, "rectanglelabels": ["a"]},
    }
    points = [_point(interface.tags["kp"], "a", 10.0, 20.0, "p1"), _point(interface.tags["kp"], "a", 30.0, 40.0, "p2")]

    for field, items in (("gt", [box]), ("kp", points)):
        added = {}
        ((first_id, first),) = results_to_labels(fields[field], interface, items, {}, added=added).items()
        assert added == {item["id"]: first_id for item in items}
        # FiftyOne added the label and put its id in the run's id_map
        again = results_to_labels(fields[field], interface, items, {first_id: first}, aliases=added)
        assert list(again) == [first_id]
        unknown = results_to_labels(fields[field], interface, items, {}, aliases=added)
        assert list(unknown) != [first_id]  # the label was deleted in the dataset: a new one


def test_a_point_drawn_in_a_detections_field_is_an_unexpected_keypoint():
    fields, interface = interface_of(DETECTION_SCHEMA)
    spec = fields["det"]
    box = fol.Detection(label="cat", bounding_box=[0.1, 0.1, 0.2, 0.2])
    results = labels_to_results(spec, interface, fol.Detections(detections=[box]))
    results.append(_point(interface.tags["det"], "cat", 30.0, 40.0, "pt1"))

    labels = results_to_labels(spec, interface, results, {box.id: box})
    unexpected = foreign_labels(spec, interface, results)

    assert list(labels) == [box.id]  # the field's own work is unaffected
    assert list(unexpected) == ["keypoints"]
    (point,) = unexpected["keypoints"].values()
    assert isinstance(point, fol.Keypoint) and point.label == "cat"
    assert_points_equal(point.points, [(0.3, 0.4)])
    assert foreign_labels(spec, interface, results[:-1]) == {}


def test_labels_of_a_deleted_field_come_back_under_their_uploaded_ids():
    fields, interface = interface_of(DETECTION_SCHEMA)
    spec = fields["det"]
    box = fol.Detection(label="cat", bounding_box=[0.1, 0.1, 0.2, 0.2])
    results = labels_to_results(spec, interface, fol.Detections(detections=[box]))

    labels = results_to_labels(spec, interface, results, {}, known_ids=[box.id])

    assert list(labels) == [box.id]
    assert labels[box.id].bounding_box == pytest.approx([0.1, 0.1, 0.2, 0.2])
