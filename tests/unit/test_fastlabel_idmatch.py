"""Matching the annotations a task was uploaded with to the ones the server
returns: by content, never by position alone, and a mismatch refused."""

import pytest

from fo_annotation_backends.fastlabel.idmatch import AnnotationIdMismatchError, match_annotation_ids

CAT = {"type": "bbox", "value": "gt-cat", "points": [1.0, 2.0, 10.0, 20.0], "rotation": 0, "attributes": []}
DOG = {
    "type": "bbox",
    "value": "gt-dog",
    "points": [5.0, 5.0, 15.0, 25.0],
    "rotation": 0,
    "attributes": [{"key": "gt__pose", "value": "v_1"}],
}
CAT2 = dict(CAT, points=[30.0, 2.0, 40.0, 20.0])
REGION = {"type": "segmentation", "value": "seg-sky", "points": [[[0, 0, 4, 0, 4, 3, 0, 3, 0, 0]]], "attributes": []}
POSE = {
    "type": "pose_estimation",
    "value": "pose-person",
    "attributes": [],
    "keypoints": [{"key": "nose", "value": [3, 4, 1]}, {"key": "eye", "value": []}],
}
SCALAR = {"type": "classification", "value": "count", "attributes": [{"key": "count", "value": "3"}]}


def returned(*annotations):
    """A task as the server answers it: ids, titles, every attribute key."""
    out = []
    for i, annotation in enumerate(annotations):
        item = dict(annotation, id="fl-%d" % i, title="Title", color="#ffffff")
        item["attributes"] = [dict(a, name=a["key"], type="text") for a in annotation.get("attributes", [])]
        item["attributes"].append({"key": "unset", "name": "Unset", "type": "text", "value": ""})
        out.append(item)
    return {"id": "task-1", "annotations": out}


def test_annotations_in_another_order_are_matched_by_content():
    task = returned(DOG, CAT2, SCALAR, CAT)
    ids = match_annotation_ids(task, [CAT, CAT2, DOG, SCALAR], ["cat0", "cat1", "dog0", None])
    assert ids == {"fl-3": "cat0", "fl-1": "cat1", "fl-0": "dog0"}


def test_rounded_coordinates_and_regions_starting_elsewhere_still_match():
    rounded = dict(CAT, points=[1, 2, 10, 20])
    shifted_ring = dict(REGION, points=[[[4, 0, 4, 3, 0, 3, 0, 0, 4, 0]]])
    pose = dict(POSE, keypoints=[{"key": "eye", "value": []}, {"key": "nose", "value": [3.4, 4.4, 1]}])
    ids = match_annotation_ids(returned(rounded, shifted_ring, pose), [CAT, REGION, POSE], ["a", "b", "c"])
    assert ids == {"fl-0": "a", "fl-1": "b", "fl-2": "c"}


def test_identical_annotations_keep_their_order():
    ids = match_annotation_ids(returned(CAT, CAT), [CAT, CAT], ["first", "second"])
    assert ids == {"fl-0": "first", "fl-1": "second"}


@pytest.mark.parametrize(
    "answer, message",
    [
        (returned(CAT), "holds 1 annotations where 2 were uploaded"),
        (returned(CAT, CAT, DOG), "holds 3 annotations where 2 were uploaded"),
        (
            returned(CAT, dict(DOG, value="gt-cat")),
            "no annotation matching the uploaded bbox annotation of class 'gt-dog'",
        ),
        (returned(CAT, dict(DOG, points=[5, 5, 18, 25])), "class 'gt-dog' (label dog0)"),
        (returned(CAT, dict(DOG, attributes=[{"key": "gt__pose", "value": "v_2"}])), "class 'gt-dog'"),
        (returned(CAT, dict(DOG, rotation=30)), "class 'gt-dog'"),
    ],
    ids=["dropped", "added", "class changed", "moved", "attribute changed", "rotated"],
)
def test_a_task_the_server_changed_is_refused(answer, message):
    with pytest.raises(AnnotationIdMismatchError) as info:
        match_annotation_ids(answer, [CAT, DOG], ["cat0", "dog0"], sample_id="s1")
    assert message in str(info.value) and "task task-1 (sample s1)" in str(info.value)


def test_a_pose_with_another_point_placed_is_refused():
    placed = dict(POSE, keypoints=[{"key": "nose", "value": [3, 4, 1]}, {"key": "eye", "value": [1, 1, 1]}])
    with pytest.raises(AnnotationIdMismatchError):
        match_annotation_ids(returned(placed), [POSE], ["p"])
