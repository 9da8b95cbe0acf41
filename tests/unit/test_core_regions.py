"""The download grouper shared by every service: regions -> FiftyOne labels
(grouping by id and part, aliases, new points, attributes, keypoints with
missing points, polylines, instance and semantic masks, classifications,
labels of other types, new-label ids)."""

import math

import fiftyone.core.labels as fol
import numpy as np
import pytest

from fo_annotation_backends.core.idmap import is_object_id
from fo_annotation_backends.core.regions import (
    NewLabelIds,
    Region,
    classifications_to_labels,
    foreign_labels,
    group_regions,
    keypoint_points,
    regions_to_labels,
    require_image_size,
    segmentation_to_labels,
)
from fo_annotation_backends.core.schema import normalize_label_schema

NAN = float("nan")
ATTRIBUTES = {
    "pose": {"type": "select", "values": ["front", "back"], "default": "front"},
    "occluded": {"type": "checkbox"},
    "note": {"type": "text"},
}


def spec_of(label_type, **extra):
    info = dict({"type": label_type, "classes": ["a", "b"], "attributes": ATTRIBUTES}, **extra)
    if label_type == "segmentation":
        info = {"type": "segmentation", "mask_targets": {1: "a", 2: "b"}}
    return normalize_label_schema({"f": info})["f"]


def points_of(label_or_points):
    points = getattr(label_or_points, "points", label_or_points)
    return [[None if math.isnan(c) else round(c, 9) for c in p] for p in points]


def marker(x, y, label="a", **kwargs):
    return Region(label=label, points=[[x, y]], **kwargs)


# grouping ------------------------------------------------------------------


def test_parts_of_an_uploaded_label_make_it_up_in_part_order():
    spec = spec_of("polylines")
    line = fol.Polyline(label="a", points=[[[0, 0], [1, 1]], [[0.5, 0], [0.5, 1]]])
    regions = [
        Region(label="a", label_id=line.id, part=1, shapes=[[[0.5, 0], [0.5, 1]]]),
        Region(label="b", shapes=[[[0.2, 0.2], [0.3, 0.3]]]),
        Region(label="a", label_id=line.id, part=0, shapes=[[[0, 0], [1, 1]]]),
    ]
    labels = regions_to_labels(spec, regions, {line.id: line})
    assert len(labels) == 2 and list(labels)[0] == line.id
    assert labels[line.id].points == [[[0, 0], [1, 1]], [[0.5, 0], [0.5, 1]]]
    (new,) = [label for i, label in labels.items() if i != line.id]
    assert new.label == "b" and is_object_id(new.id)


def test_an_unknown_label_id_makes_a_new_label_and_known_ids_keep_theirs():
    spec = spec_of("detections")
    gone = fol.Detection(label="a", bounding_box=[0.1, 0.1, 0.2, 0.2])
    region = Region(label="a", label_id=gone.id, part=0, box=[0.1, 0.1, 0.3, 0.3])
    (new_id,) = regions_to_labels(spec, [region], {})
    assert new_id != gone.id
    # the field was deleted: the uploaded ids come back
    kept = regions_to_labels(spec, [region], {}, known_ids=[gone.id])
    assert list(kept) == [gone.id] and kept[gone.id].bounding_box == [0.1, 0.1, 0.3, 0.3]


def test_aliased_regions_without_a_part_follow_in_order_of_appearance():
    spec = spec_of("keypoints")
    added = fol.Keypoint(label="a", points=[[0.1, 0.1], [0.2, 0.2]])
    regions = [marker(0.3, 0.3, label_id=added.id), marker(0.4, 0.4, label_id=added.id)]
    (group,) = group_regions(spec, regions, {added.id})
    assert group.label_id == added.id and [index for index, _ in group.parts] == [0, 1]
    labels = regions_to_labels(spec, regions, {added.id: added})
    assert points_of(labels[added.id]) == [[0.3, 0.3], [0.4, 0.4]]


def test_new_points_of_one_class_are_one_keypoint_and_uploaded_points_stay_their_own():
    spec = spec_of("keypoints")
    uploaded = fol.Keypoint(label="a", points=[[0.1, 0.1], [0.9, 0.9]])
    regions = [
        marker(0.1, 0.1, label_id=uploaded.id, part=0),
        marker(0.5, 0.5),
        marker(0.6, 0.6, label="b"),
        marker(0.9, 0.9, label_id=uploaded.id, part=1),
        marker(0.7, 0.7),
    ]
    labels = regions_to_labels(spec, regions, {uploaded.id: uploaded})
    assert points_of(labels[uploaded.id]) == [[0.1, 0.1], [0.9, 0.9]]
    new = {label.label: label for i, label in labels.items() if i != uploaded.id}
    assert points_of(new["a"]) == [[0.5, 0.5], [0.7, 0.7]]
    assert points_of(new["b"]) == [[0.6, 0.6]]


def test_new_poses_and_other_new_regions_are_labels_of_their_own():
    regions = [Region(label="a", box=[0.1, 0.1, 0.1, 0.1]), Region(label="a", box=[0.5, 0.5, 0.1, 0.1])]
    assert len(regions_to_labels(spec_of("detections"), regions, {})) == 2
    poses = [
        Region(label="a", points=[[0.1, 0.1]], skeleton=True),
        Region(label="a", points=[[0.2, 0.2]], skeleton=True),
    ]
    assert len(regions_to_labels(spec_of("keypoints"), poses, {})) == 2


def test_new_regions_sharing_a_service_id_are_one_label():
    spec = spec_of("polylines")
    regions = [
        Region(label="a", region_id="obj1", shapes=[[[0, 0], [1, 1]]], attributes={"note": "first"}),
        Region(label="a", region_id="obj2", shapes=[[[0, 1], [1, 0]]]),
        Region(label="a", region_id="obj1", shapes=[[[0.5, 0], [0.5, 1]]], attributes={"note": "second"}),
    ]
    labels = list(regions_to_labels(spec, regions, {}).values())
    assert [len(label.points) for label in labels] == [2, 1]
    assert labels[0].points[1] == [[0.5, 0], [0.5, 1]] and labels[0]["note"] == "first"


def test_groups_come_in_order_of_first_appearance():
    spec = spec_of("detections")
    regions = [Region(label=name, box=[0.1, 0.1, 0.1, 0.1]) for name in ("b", "a", "b")]
    assert [label.label for label in regions_to_labels(spec, regions, {}).values()] == ["b", "a", "b"]


# attributes -----------------------------------------------------------------


def test_attributes_the_first_part_that_sets_one_provides_it():
    spec = spec_of("polylines")
    line = fol.Polyline(label="a", points=[[[0, 0], [1, 1]]], closed=False, filled=False)
    regions = [
        Region(label="a", label_id=line.id, part=1, shapes=[[[0, 1], [1, 0]]], attributes={"note": "second"}),
        Region(label="a", label_id=line.id, part=0, shapes=[[[0, 0], [1, 1]]], attributes={"pose": "back"}),
        Region(label="a", label_id=line.id, part=2, shapes=[[[0, 0], [0, 1]]], attributes={"pose": "front"}),
    ]
    (label,) = regions_to_labels(spec, regions, {line.id: line}).values()
    assert (label["pose"], label["note"], label["occluded"]) == ("back", "second", False)


def test_unset_attributes_are_defaults_on_a_new_label_and_none_on_an_uploaded_one():
    spec = spec_of("detections")
    uploaded = fol.Detection(label="a", bounding_box=[0.1, 0.1, 0.2, 0.2], pose="back")
    regions = [
        Region(label="a", label_id=uploaded.id, box=[0.1, 0.1, 0.2, 0.2]),
        Region(label="b", box=[0.5, 0.5, 0.2, 0.2], attributes={"note": "n", "unknown": 1}),
    ]
    labels = regions_to_labels(spec, regions, {uploaded.id: uploaded})
    assert (labels[uploaded.id]["pose"], labels[uploaded.id]["occluded"]) == (None, False)
    (new,) = [label for i, label in labels.items() if i != uploaded.id]
    assert (new["pose"], new["occluded"], new["note"]) == ("front", False, "n")
    assert not new.has_field("unknown")


# geometry -------------------------------------------------------------------


def test_a_region_without_a_shape_makes_no_label():
    assert regions_to_labels(spec_of("detections"), [Region(label="a")], {}) == {}
    assert regions_to_labels(spec_of("polylines"), [Region(label="a", shapes=[[]])], {}) == {}
    assert regions_to_labels(spec_of("keypoints"), [Region(label="a", points=[[NAN, NAN]])], {}) == {}


@pytest.mark.parametrize(
    "label_type, hint, expected",
    [("polylines", None, (False, False)), ("polygons", None, (True, True)), ("polylines", True, (True, True))],
)
def test_new_shapes_are_closed_by_the_hint_else_by_the_field_type(label_type, hint, expected):
    region = Region(label="a", shapes=[[[0, 0], [1, 0], [1, 1]]], closed=hint)
    (label,) = regions_to_labels(spec_of(label_type), [region], {}).values()
    assert (label.closed, label.filled) == expected


def test_an_uploaded_shape_keeps_its_closed_and_filled_flags():
    line = fol.Polyline(label="a", points=[[[0, 0], [1, 1]]], closed=True, filled=False)
    region = Region(label="a", label_id=line.id, shapes=[[[0, 0], [1, 0]]], closed=False)
    (label,) = regions_to_labels(spec_of("polygons"), [region], {line.id: line}).values()
    assert (label.closed, label.filled) == (True, False)


def test_a_removed_point_of_an_uploaded_keypoint_is_nan_and_the_length_is_kept():
    uploaded = fol.Keypoint(label="a", points=[[0.1, 0.1], [0.2, 0.2], [0.3, 0.3], [NAN, NAN]])
    regions = [marker(0.15, 0.15, label_id=uploaded.id, part=0), marker(0.3, 0.3, label_id=uploaded.id, part=2)]
    (label,) = regions_to_labels(spec_of("keypoints"), regions, {uploaded.id: uploaded}).values()
    assert points_of(label) == [[0.15, 0.15], [None, None], [0.3, 0.3], [None, None]]
    # a point placed beyond the uploaded ones extends the keypoint
    regions.append(marker(0.6, 0.6, label_id=uploaded.id, part=5))
    (label,) = regions_to_labels(spec_of("keypoints"), regions, {uploaded.id: uploaded}).values()
    assert len(label.points) == 6 and points_of(label)[5] == [0.6, 0.6]


def test_a_pose_keeps_the_points_beyond_its_skeleton_and_its_length():
    skeleton = Region(label="a", points=[[0.1, 0.1], [NAN, NAN], [NAN, NAN]], skeleton=True)
    # a new pose: the whole skeleton
    assert points_of(keypoint_points([(0, skeleton)], None)) == [[0.1, 0.1], [None, None], [None, None]]
    longer = fol.Keypoint(points=[[0, 0], [0, 0], [0, 0], [0.8, 0.8], [0.9, 0.9]])
    assert points_of(keypoint_points([(0, skeleton)], longer))[3:] == [[0.8, 0.8], [0.9, 0.9]]
    shorter = fol.Keypoint(points=[[0, 0], [0, 0]])
    assert points_of(keypoint_points([(0, skeleton)], shorter)) == [[0.1, 0.1], [None, None]]
    placed = Region(label="a", points=[[0.1, 0.1], [NAN, NAN], [0.3, 0.3]], skeleton=True)
    assert len(keypoint_points([(0, placed)], shorter)) == 3
    # a pose is its first region's skeleton
    assert points_of(keypoint_points([(0, placed), (1, skeleton)], None)) == [[0.1, 0.1], [None, None], [0.3, 0.3]]


def test_single_points_count_up_to_the_highest_part_and_none_placed_is_no_keypoint():
    parts = [(0, marker(0.1, 0.1)), (2, Region(label="a", points=None))]
    assert points_of(keypoint_points(parts, None)) == [[0.1, 0.1], [None, None], [None, None]]
    assert keypoint_points([(0, Region(label="a", points=[[NAN, NAN]]))], None) is None


def test_instance_masks_from_polygons_need_the_image_size_and_parts_are_united():
    spec = spec_of("instances")
    square = [[[0.25, 0.25], [0.5, 0.25], [0.5, 0.5], [0.25, 0.5]]]
    other = [[[0.75, 0.75], [1.0, 0.75], [1.0, 1.0], [0.75, 1.0]]]
    uploaded = fol.Detection(label="a", bounding_box=[0, 0, 1, 1])
    regions = [
        Region(label="a", label_id=uploaded.id, part=0, polygons=[square]),
        Region(label="a", label_id=uploaded.id, part=1, polygons=[other]),
    ]
    with pytest.raises(ValueError, match="needs the image size"):
        regions_to_labels(spec, regions, {uploaded.id: uploaded})
    (label,) = regions_to_labels(spec, regions, {uploaded.id: uploaded}, image_size=(8, 4)).values()
    assert label.id == uploaded.id and label.bounding_box == pytest.approx([0.25, 0.25, 0.75, 0.75])
    expected = np.zeros((3, 6), dtype=bool)
    expected[0, 0:2] = True
    expected[2, 4:6] = True
    assert np.array_equal(label.mask, expected)


def test_instance_masks_from_full_image_masks_and_empty_masks():
    spec = spec_of("instances")
    full = np.zeros((4, 5), dtype=bool)
    full[1:3, 2:4] = True
    (label,) = regions_to_labels(spec, [Region(label="a", mask=full)], {}).values()
    assert label.bounding_box == pytest.approx([0.4, 0.25, 0.4, 0.5]) and label.mask.all()
    assert regions_to_labels(spec, [Region(label="a", mask=np.zeros((4, 5), bool))], {}) == {}


# segmentation --------------------------------------------------------------


def test_a_segmentation_paints_each_class_with_its_pixel_value_under_the_uploaded_id():
    spec = spec_of("segmentation")
    uploaded = fol.Segmentation(mask=np.zeros((4, 8), dtype=np.uint16))
    left = [[[0, 0], [0.5, 0], [0.5, 1], [0, 1]]]
    regions = [
        Region(label="a", polygons=[left]),
        Region(label="b", polygons=[[[[0.75, 0], [1, 0], [1, 0.5], [0.75, 0.5]]]]),
        Region(label="not a target", polygons=[left]),
    ]
    (label,) = segmentation_to_labels(spec, regions, {uploaded.id: uploaded}, image_size=(16, 8)).values()
    # drawn at the uploaded mask's size and type
    assert label.id == uploaded.id and label.mask.shape == (4, 8) and label.mask.dtype == np.uint16
    assert label.mask[:, :4].tolist() == [[1] * 4] * 4
    assert label.mask[:2, 6:].tolist() == [[2, 2], [2, 2]] and not label.mask[2:, 4:].any()


def test_a_new_segmentation_is_drawn_at_the_image_size_or_the_services_mask_size():
    spec = spec_of("segmentation")
    with pytest.raises(ValueError, match="needs the image size"):
        segmentation_to_labels(spec, [Region(label="a", polygons=[])], {})
    seen = []
    (label,) = segmentation_to_labels(
        spec, [Region(label="a", polygons=[])], {}, image_size=(3, 2), on_new=lambda lab, parts: seen.append(lab.id)
    ).values()
    assert label.mask.shape == (2, 3) and label.mask.dtype == np.uint8 and seen == [label.id]
    raster = np.zeros((5, 6), dtype=bool)
    raster[0, 0] = True
    (label,) = segmentation_to_labels(spec, [Region(label="b", mask=raster)], {}).values()
    assert label.mask.shape == (5, 6) and label.mask[0, 0] == 2 and label.mask.sum() == 2


def test_an_erased_segmentation_is_all_zero_under_its_id():
    spec = spec_of("segmentation")
    uploaded = fol.Segmentation(mask=np.ones((3, 4), dtype=np.uint8))
    (label,) = segmentation_to_labels(spec, [], {uploaded.id: uploaded}).values()
    assert label.id == uploaded.id and label.mask.shape == (3, 4) and not label.mask.any()
    assert segmentation_to_labels(spec, [], {}) == {}
    # the field was deleted: the uploaded id, at the image size when known
    assert segmentation_to_labels(spec, [], {}, known_ids=[uploaded.id]) == {}
    (label,) = segmentation_to_labels(spec, [], {}, known_ids=[uploaded.id], image_size=(2, 2)).values()
    assert label.id == uploaded.id and label.mask.shape == (2, 2)


# classifications -----------------------------------------------------------


def test_a_classification_is_the_first_choice_under_the_uploaded_id():
    spec = spec_of("classification")
    uploaded = fol.Classification(label="a")
    labels = classifications_to_labels(spec, [("b", {"note": "x"}), ("a", {})], {uploaded.id: uploaded})
    assert list(labels) == [uploaded.id]
    assert (labels[uploaded.id].label, labels[uploaded.id]["note"], labels[uploaded.id]["pose"]) == ("b", "x", None)
    (deleted_field,) = classifications_to_labels(spec, [("b", {})], {}, known_ids=[uploaded.id])
    assert deleted_field == uploaded.id


def test_classifications_keep_each_class_once_and_uploaded_classes_their_ids():
    spec = spec_of("classifications")
    uploaded = fol.Classification(label="b")
    new = []
    labels = classifications_to_labels(
        spec, [("a", {}), ("b", {}), ("a", {})], {uploaded.id: uploaded}, on_new=lambda label, _: new.append(label)
    )
    assert [label.label for label in labels.values()] == ["a", "b"]
    assert labels[uploaded.id].label == "b" and [label.label for label in new] == ["a"]
    assert new[0]["pose"] == "front" and labels[uploaded.id]["pose"] is None


# new-label ids ---------------------------------------------------------------


def test_on_new_sees_every_new_label_with_its_parts_and_may_give_it_an_id():
    spec = spec_of("keypoints")
    remembered = fol.Keypoint().id
    calls = []

    def on_new(label, parts):
        calls.append([(index, region.region_id) for index, region in parts])
        label.id = remembered

    labels = regions_to_labels(
        spec, [marker(0.1, 0.1, region_id="r1"), marker(0.2, 0.2, region_id="r2")], {}, on_new=on_new
    )
    assert list(labels) == [remembered] and calls == [[(0, "r1"), (1, "r2")]]


def test_new_label_ids_by_origin():
    first = NewLabelIds()
    label = first.assign(fol.Detection(), "mid:x")
    assert first.current == {"mid:x": label.id}
    again = NewLabelIds(first.current)
    assert again.assign(fol.Detection(), "mid:x").id == label.id
    assert again.assign(fol.Detection(), None).id != label.id and again.current == {"mid:x": label.id}


# labels of other types, image size -----------------------------------------


def test_foreign_labels_by_return_type_without_the_fields_own():
    spec = spec_of("detections")
    by_type = {
        "keypoints": [marker(0.1, 0.1, attributes={"note": "n"}), marker(0.2, 0.2)],
        "polylines": [Region(label="b", shapes=[[[0, 0], [1, 1]]], closed=True)],
        "instances": [Region(label="a", mask=np.ones((2, 2), bool))],  # the field's own return type
    }
    out = foreign_labels(spec, by_type)
    assert set(out) == {"keypoints", "polylines"}
    (point,) = out["keypoints"].values()
    assert points_of(point) == [[0.1, 0.1], [0.2, 0.2]] and point["note"] == "n"
    (line,) = out["polylines"].values()
    assert (line.closed, line.filled) == (True, True)
    (bare,) = foreign_labels(spec, by_type, attributes=False)["keypoints"].values()
    assert not bare.has_field("note")
    assert foreign_labels(spec, {"keypoints": [Region(label="a", points=[[NAN, NAN]])]}) == {}


@pytest.mark.parametrize("size", [None, (), (0, 4), (4, None)])
def test_require_image_size(size):
    with pytest.raises(ValueError, match="Field 'f'"):
        require_image_size(spec_of("instances"), size)
    assert require_image_size(spec_of("instances"), (4.0, 3)) == (4, 3)


def test_regions_carry_a_frame_number_left_none_for_images():
    assert Region().frame_number is None
