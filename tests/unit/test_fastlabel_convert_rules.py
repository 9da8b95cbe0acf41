"""The rules every backend shares, as the FastLabel conversion applies them:
new single keypoints of a class are one Keypoint, a pose stays its own; a
new scalar field without classes is numeric; an erased segmentation is an
all-zero mask under its id."""

import math

import fiftyone.core.fields as fof
import fiftyone.core.labels as fol
import numpy as np
import pytest
from fiftyone.core.odm.dataset import KeypointSkeleton

from fo_annotation_backends.core.schema import normalize_label_schema
from fo_annotation_backends.fastlabel.convert import FastLabelInterface, labels_to_task, task_to_labels

NAN = float("nan")


class FieldTypes:
    """Just enough of a sample collection for ``get_field``."""

    def __init__(self, **fields):
        self._fields = fields

    def get_field(self, name):
        return self._fields.get(name)


def interface_of(schema, samples=None, **kwargs):
    fields = normalize_label_schema(schema, samples=samples)
    return fields, FastLabelInterface(fields, **kwargs)


def point(value, x, y, id_=None):
    out = {"type": "keypoint", "value": value, "points": [x, y], "attributes": []}
    if id_:
        out["id"] = id_
    return out


def task(*annotations, width=100, height=50):
    return {"id": "t", "width": width, "height": height, "annotations": list(annotations)}


def points_of(label):
    return [[None if math.isnan(c) else round(c, 9) for c in p] for p in label.points]


KEYPOINTS = {"kps": {"type": "keypoints", "classes": ["eye", "nose"]}}


def test_new_single_points_of_a_class_are_one_keypoint_in_placement_order():
    fields, interface = interface_of(KEYPOINTS)
    answer = task(
        point("kps-eye", 10, 5), point("kps-nose", 50, 25), point("kps-eye", 20, 10), point("kps-eye", 30, 15)
    )
    labels = task_to_labels(interface, fields["kps"], answer, {}, {})
    by_class = {label.label: label for label in labels.values()}
    assert len(labels) == 2 and set(by_class) == {"eye", "nose"}
    assert points_of(by_class["eye"]) == [[0.1, 0.1], [0.2, 0.2], [0.3, 0.3]]
    assert points_of(by_class["nose"]) == [[0.5, 0.5]]


def test_points_of_an_uploaded_label_stay_its_own_keypoint_beside_new_points():
    fields, interface = interface_of(KEYPOINTS)
    uploaded = fol.Keypoint(label="eye", points=[(0.1, 0.1), (0.9, 0.9)])
    sent, _, parts = labels_to_task(interface, {"kps": fol.Keypoints(keypoints=[uploaded])}, (100, 50))
    ids = {"fl-a": parts[0], "fl-b": parts[1]}
    answer = task(
        point("kps-eye", 10, 5, "fl-a"),
        point("kps-eye", 40, 20),
        point("kps-eye", 90, 45, "fl-b"),
        point("kps-eye", 60, 30),
    )
    labels = task_to_labels(interface, fields["kps"], answer, ids, {uploaded.id: uploaded})
    assert points_of(labels[uploaded.id]) == [[0.1, 0.1], [0.9, 0.9]]
    (new_id,) = set(labels) - {uploaded.id}
    assert labels[new_id].label == "eye" and points_of(labels[new_id]) == [[0.4, 0.4], [0.6, 0.6]]


def test_each_new_pose_stays_its_own_keypoint():
    skeleton = KeypointSkeleton(labels=["head", "tail"], edges=[[0, 1]])
    schema = {"pose": {"type": "keypoints", "classes": ["cat"]}}
    fields, interface = interface_of(schema, skeletons={"pose": skeleton})
    pose = {"type": "pose_estimation", "value": "pose-cat", "attributes": []}
    answer = task(
        dict(pose, keypoints=[{"key": "head", "value": [10, 5, 1]}, {"key": "tail", "value": []}]),
        dict(pose, keypoints=[{"key": "head", "value": [20, 10, 1]}, {"key": "tail", "value": [30, 15, 1]}]),
    )
    labels = list(task_to_labels(interface, fields["pose"], answer, {}, {}).values())
    assert sorted(points_of(label) for label in labels) == [[[0.1, 0.1], [None, None]], [[0.2, 0.2], [0.3, 0.3]]]


def scalar_answer(interface, field, value):
    return {"id": "t", "attributes": [{"key": interface.field_key(field), "value": value}]}


@pytest.mark.parametrize(
    "typed, expected", [("3", 3), ("-12", -12), ("2.5", 2.5), (" 1e3 ", 1000.0), (7, 7), ("abc", None), ("nan", None)]
)
def test_a_new_scalar_field_without_classes_reads_back_numbers(typed, expected):
    fields, interface = interface_of({"count": {"type": "scalar"}}, FieldTypes(), new_fields=["count"])
    assert interface.is_numeric_scalar("count")
    value = task_to_labels(interface, fields["count"], scalar_answer(interface, "count", typed), {}, {})
    assert value == expected and type(value) is type(expected)


def test_an_existing_string_field_and_a_field_with_classes_stay_as_they_are():
    fields, interface = interface_of(
        {"note": {"type": "scalar"}, "grade": {"type": "scalar", "classes": ["1", "2"]}},
        FieldTypes(note=fof.StringField()),
        new_fields=["grade"],
    )
    assert not interface.is_numeric_scalar("note") and not interface.is_numeric_scalar("grade")
    assert task_to_labels(interface, fields["note"], scalar_answer(interface, "note", "3"), {}, {}) == "3"


def test_the_numeric_choice_is_stored_with_the_run():
    fields, interface = interface_of({"count": {"type": "scalar"}}, FieldTypes(), new_fields=["count"])
    stored = interface.to_dict()
    assert stored["numeric_scalars"] == ["count"]
    # on reload the field exists (it was loaded once): the stored choice holds
    reloaded = FastLabelInterface(normalize_label_schema({"count": {"type": "scalar"}}, FieldTypes()), mapping=stored)
    assert reloaded.is_numeric_scalar("count")


def test_an_erased_segmentation_is_an_all_zero_mask_of_the_original_size_under_its_id():
    fields, interface = interface_of({"seg": {"type": "segmentation", "mask_targets": {1: "sky"}}})
    mask = np.zeros((5, 8), dtype=np.uint8)
    mask[1:3, 2:6] = 1
    label = fol.Segmentation(mask=mask)
    _, _, parts = labels_to_task(interface, {"seg": label}, (16, 10))
    erased = task(width=16, height=10)
    (result,) = task_to_labels(interface, fields["seg"], erased, {"fl-1": parts[0]}, {label.id: label}).values()
    assert result.id == label.id and result.mask.shape == (5, 8) and not result.mask.any()
