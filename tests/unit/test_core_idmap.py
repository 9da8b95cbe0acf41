"""Label ids, part ids and label containers."""

import fiftyone.core.labels as fol
import pytest

from fo_annotation_backends.core.idmap import is_object_id, iter_labels, label_ids, part_id, record_ids, split_part_id
from fo_annotation_backends.core.schema import normalize_label_schema

LABEL_ID = "64b7f0c2a1b2c3d4e5f60718"


def test_part_zero_is_the_label_id_itself():
    assert part_id(LABEL_ID) == LABEL_ID
    assert part_id(LABEL_ID, 0) == LABEL_ID
    assert part_id(LABEL_ID, 3) == LABEL_ID + "_3"


@pytest.mark.parametrize("index", [0, 1, 2, 17])
def test_part_ids_split_back(index):
    assert split_part_id(part_id(LABEL_ID, index)) == (LABEL_ID, index)


@pytest.mark.parametrize("region_id", ["Xy12ab9Q", "", None, LABEL_ID + "_x", LABEL_ID.upper(), LABEL_ID[:-1]])
def test_other_region_ids_do_not_split(region_id):
    assert split_part_id(region_id) == (None, None)


def test_is_object_id():
    assert is_object_id(LABEL_ID)
    assert is_object_id(fol.Detection().id)
    assert not is_object_id(LABEL_ID + "_1")
    assert not is_object_id(None)


def test_iter_labels_and_label_ids_of_containers_and_single_labels():
    d1, d2 = fol.Detection(label="a"), fol.Detection(label="b")
    detections = fol.Detections(detections=[d1, d2])
    assert iter_labels(detections) == [d1, d2]
    assert label_ids(detections, multiple=True) == [d1.id, d2.id]

    single = fol.Classification(label="c")
    assert iter_labels(single) == [single]
    assert label_ids(single, multiple=False) == single.id

    assert iter_labels(None) == []
    assert label_ids(None, multiple=True) == []
    assert label_ids(None, multiple=False) is None
    assert label_ids(fol.Detections(), multiple=False) is None
    assert iter_labels(5) == []


def test_record_ids_keeps_label_ids_and_marks_scalars_with_a_value():
    fields = normalize_label_schema(
        {
            "boxes": {"type": "detections", "classes": ["a"]},
            "label": {"type": "classification", "classes": ["a"]},
            "count": {"type": "scalar"},
        }
    )
    boxes = fol.Detections(detections=[fol.Detection(label="a"), fol.Detection(label="a")])
    label = fol.Classification(label="a")
    id_map = {field: {} for field in fields}
    record_ids(id_map["boxes"], fields["boxes"], "s1", boxes)
    record_ids(id_map["boxes"], fields["boxes"], "s2", None)
    record_ids(id_map["label"], fields["label"], "s1", label)
    record_ids(id_map["count"], fields["count"], "s1", 3)
    record_ids(id_map["count"], fields["count"], "s2", None)
    assert id_map == {
        "boxes": {"s1": [d.id for d in boxes.detections], "s2": []},
        "label": {"s1": label.id},
        "count": {"s1": True},
    }
