"""Kili -> FiftyOne without a server: the ids of labels a person added (the
same on every load), uploaded ids when the field was deleted from the
dataset, and regions drawn with another label type's tool (FiftyOne's
``unexpected`` labels)."""

import fiftyone.core.labels as fol
from kili_convert_helpers import bounding_poly, interface_of, kili_annotation, vertices

from fo_annotation_backends.core.idmap import is_object_id
from fo_annotation_backends.kili.from_kili import NewLabelIds, foreign_labels, json_response_to_labels

DETECTIONS = {"gt": {"type": "detections", "classes": ["cat", "dog"], "attributes": {"note": {"type": "text"}}}}


def _response(*items, job="GT"):
    return {job: {"annotations": list(items)}}


def _point(mid, key, x, y):
    return kili_annotation(mid, key, "marker", point={"x": x, "y": y})


def _box(mid, key, x0, y0, x1, y1):
    return kili_annotation(mid, key, "rectangle", boundingPoly=bounding_poly((x0, y1), (x0, y0), (x1, y0), (x1, y1)))


def test_added_labels_keep_their_ids_from_one_load_to_the_next():
    fields, interface = interface_of(DETECTIONS)
    response = _response(_box("k-1", "CAT", 0.1, 0.1, 0.3, 0.3), _box("k-2", "DOG", 0.5, 0.5, 0.6, 0.6))

    first = NewLabelIds()
    labels = json_response_to_labels(interface, fields["gt"], response, {}, new_ids=first)
    assert all(is_object_id(i) for i in labels) and set(first.current.values()) == set(labels)

    # the next load: the same regions, and one of them deleted by the person
    again = NewLabelIds(first.current)
    response["GT"]["annotations"].pop()
    relabelled = json_response_to_labels(interface, fields["gt"], response, {}, new_ids=again)
    (cat_id,) = relabelled
    assert relabelled[cat_id].label == "cat" and first.current["mid:k-1"] == cat_id
    assert again.current == {"mid:k-1": cat_id}  # the deleted region is forgotten


def test_new_markers_classes_and_segmentations_keep_their_ids_too():
    schema = {
        "kp": {"type": "keypoints", "classes": ["person"]},
        "tags": {"type": "classifications", "classes": ["a", "b"]},
        "seg": {"type": "segmentation", "mask_targets": {1: "road"}},
    }
    fields, interface = interface_of(schema)
    responses = {
        "kp": _response(_point("p1", "PERSON", 0.1, 0.1), _point("p2", "PERSON", 0.2, 0.2), job="KP"),
        "tags": {"TAGS": {"categories": [{"name": "A"}]}},
        "seg": _response(
            kili_annotation("s1", "ROAD", "semantic", boundingPoly=bounding_poly((0, 0), (1, 0), (1, 1))), job="SEG"
        ),
    }
    for field, response in responses.items():
        first = NewLabelIds()
        ids = set(json_response_to_labels(interface, fields[field], response, {}, image_size=(4, 4), new_ids=first))
        again = set(
            json_response_to_labels(
                interface, fields[field], response, {}, image_size=(4, 4), new_ids=NewLabelIds(first.current)
            )
        )
        assert len(ids) == 1 and again == ids, field


def test_uploaded_ids_come_back_when_the_field_was_deleted():
    fields, interface = interface_of(DETECTIONS)
    uploaded = fol.Detection(label="cat", bounding_box=[0.1, 0.1, 0.2, 0.2])
    response = _response(_box(uploaded.id, "CAT", 0.1, 0.1, 0.3, 0.3))

    kept = json_response_to_labels(interface, fields["gt"], response, {}, uploaded_ids=[uploaded.id])
    assert list(kept) == [uploaded.id]
    # without the field deleted, a label gone from the dataset is re-added as new
    (other,) = json_response_to_labels(interface, fields["gt"], response, {})
    assert other != uploaded.id


def test_regions_of_another_label_type_are_returned_as_that_type():
    fields, interface = interface_of(DETECTIONS)
    polygon = kili_annotation(
        "g1", "DOG", "polygon", boundingPoly=[{"normalizedVertices": vertices((0, 0), (0.5, 0), (0.5, 0.5))}]
    )
    response = _response(
        _box("b1", "CAT", 0.1, 0.1, 0.3, 0.3),
        _point("m1", "CAT", 0.3, 0.4),
        _point("m2", "CAT", 0.6, 0.7),
        polygon,
    )

    own = json_response_to_labels(interface, fields["gt"], response, {})
    assert [label.label for label in own.values()] == ["cat"]  # the box only

    new_ids = NewLabelIds()
    drawn = foreign_labels(interface, fields["gt"], response, new_ids)
    assert set(drawn) == {"keypoints", "polylines"}
    (point,) = drawn["keypoints"].values()
    assert point.label == "cat" and point.points == [[0.3, 0.4], [0.6, 0.7]]
    (line,) = drawn["polylines"].values()
    assert line.label == "dog" and line.closed and line.filled and line.points == [[[0, 0], [0.5, 0], [0.5, 0.5]]]
    again = foreign_labels(interface, fields["gt"], response, NewLabelIds(new_ids.current))
    assert {i for labels in again.values() for i in labels} == {i for labels in drawn.values() for i in labels}


def test_a_keypoints_job_returns_no_foreign_markers_and_a_segmentation_none():
    schema = {
        "kp": {"type": "keypoints", "classes": ["person"]},
        "seg": {"type": "segmentation", "mask_targets": {1: "road"}},
    }
    fields, interface = interface_of(schema)
    markers = _response(_point("p1", "PERSON", 0.1, 0.1), job="KP")
    assert foreign_labels(interface, fields["kp"], markers) == {}
    boxed = _response(_box("r1", "ROAD", 0.0, 0.0, 0.5, 0.5), job="SEG")
    assert foreign_labels(interface, fields["seg"], boxed) == {}
