"""Kili conversions without a server: masks (instances, segmentations) and
scalars, FiftyOne -> jsonResponse -> FiftyOne (through JSON text, as on the
wire)."""

import fiftyone.core.fields as fof
import fiftyone.core.labels as fol
import numpy as np
import pytest
from kili_convert_helpers import (
    FieldTypes,
    annotations,
    grid,
    interface_of,
    kili_annotation,
    roundtrip,
    vertices,
    wire,
)

from fo_annotation_backends.core import geometry
from fo_annotation_backends.core.idmap import part_id
from fo_annotation_backends.kili.convert import json_response_to_labels, labels_to_json_response

# --------------------------------------------------------------------------
# masks
# --------------------------------------------------------------------------

MASK_CASES = {
    "holes and islands": ("########.. #......#.. #.####.#.# #.#..#.#.. #.####.#.# ########.# "),
    "diagonal saddles": "#.#.#. .#.#.# #.#.#. ......",
    "single pixels at the borders": "#....# ...... ..#... #....#",
    "touching every border": "###### #....# ######",
    "non-square thin": "#.##..#..### .#####....#.",
}


@pytest.mark.parametrize("case", sorted(MASK_CASES))
def test_instance_masks_round_trip_exactly(case):
    full = grid(MASK_CASES[case])
    height, width = full.shape
    box, mask = geometry.full_mask_to_instance(full)
    fields, interface = interface_of({"inst": {"type": "instances", "classes": ["blob"]}})
    label = fol.Detection(label="blob", bounding_box=box, mask=mask)
    response, labels = roundtrip(interface, "inst", fol.Detections(detections=[label]), image_size=(width, height))
    items = annotations(response, interface, "inst")
    assert {item["type"] for item in items} == {"semantic"}
    assert [item["mid"] for item in items] == [part_id(label.id, k) for k in range(len(items))]
    (back,) = labels.values()
    assert back.id == label.id
    assert np.array_equal(geometry.instance_to_full_mask(back.bounding_box, back.mask, width, height), full)


def test_instance_components_carry_their_holes():
    full = grid("##### #...# #.#.# #...# #####")  # a frame around an island
    fields, interface = interface_of({"inst": {"type": "instances", "classes": ["blob"]}})
    label = fol.Detection(label="blob", bounding_box=[0, 0, 1, 1], mask=full)
    response = labels_to_json_response(interface, {"inst": fol.Detections(detections=[label])}, image_size=(5, 5))
    frame, island = annotations(response, interface, "inst")
    assert len(frame["boundingPoly"]) == 2  # outer ring and hole
    assert len(island["boundingPoly"]) == 1
    for ring in frame["boundingPoly"] + island["boundingPoly"]:
        vertices = ring["normalizedVertices"]
        assert vertices[0] != vertices[-1]
        assert all(0 <= v["x"] <= 1 and 0 <= v["y"] <= 1 for v in vertices)


def test_instance_without_mask_is_its_box_and_mask_path_is_read(tmp_path):
    from PIL import Image

    fields, interface = interface_of({"inst": {"type": "instances", "classes": ["blob"]}})
    plain = fol.Detection(label="blob", bounding_box=[0.25, 0.5, 0.5, 0.25])
    mask = grid("#. ##")
    path = str(tmp_path / "mask.png")
    Image.fromarray(mask.astype(np.uint8) * 255).save(path)
    stored = fol.Detection(label="blob", bounding_box=[0.0, 0.0, 0.25, 0.5], mask_path=path)
    value = fol.Detections(detections=[plain, stored])
    _, labels = roundtrip(interface, "inst", value, image_size=(8, 4))
    assert labels[plain.id].bounding_box == pytest.approx([0.25, 0.5, 0.5, 0.25])
    assert labels[plain.id].mask.all()
    assert np.array_equal(labels[stored.id].mask, mask)


def test_masks_need_the_image_size():
    fields, interface = interface_of({"inst": {"type": "instances", "classes": ["blob"]}})
    label = fol.Detection(label="blob", bounding_box=[0, 0, 1, 1], mask=np.ones((2, 2), bool))
    with pytest.raises(ValueError, match="image size"):
        labels_to_json_response(interface, {"inst": fol.Detections(detections=[label])})


def test_nested_multipolygon_bounding_polys_are_read():
    fields, interface = interface_of({"inst": {"type": "instances", "classes": ["blob"]}})

    def ring(x0, y0, x1, y1):
        return {"normalizedVertices": vertices((x0, y0), (x1, y0), (x1, y1), (x0, y1))}

    polygons = [[ring(0, 0, 0.5, 1), ring(0.125, 0.25, 0.375, 0.75)], [ring(0.75, 0, 1, 0.5)]]
    response = {"INST": {"annotations": [kili_annotation("k", "BLOB", "semantic", boundingPoly=polygons)]}}
    (label,) = json_response_to_labels(interface, fields["inst"], response, {}, image_size=(8, 4)).values()
    full = geometry.instance_to_full_mask(label.bounding_box, label.mask, 8, 4)
    assert np.array_equal(full, grid("####..## #..#..## #..#.... ####...."))


def test_segmentation_round_trips_exactly_on_a_non_square_image():
    rng = np.random.default_rng(5)
    mask = np.zeros((23, 37), dtype=np.uint8)
    mask[2:20, 3:30] = 1
    mask[5:15, 8:20] = 4  # inside road, with a hole of road in it
    mask[8:10, 12:14] = 1
    mask[0, :] = 9  # along the border, not a mask target: dropped
    mask[22, 36] = 4  # single corner pixel
    mask[17:23, 31:37] = (rng.random((6, 6)) < 0.5) * 4  # saddles
    fields, interface = interface_of({"seg": {"type": "segmentation", "mask_targets": {0: "bg", 1: "road", 4: "car"}}})
    label = fol.Segmentation(mask=mask)
    response, labels = roundtrip(interface, "seg", label, image_size=(37, 23))
    items = annotations(response, interface, "seg")
    assert [item["mid"] for item in items] == [part_id(label.id, n) for n in range(len(items))]
    assert {item["categories"][0]["name"] for item in items} == {"ROAD", "CAR"}
    (back,) = labels.values()
    assert back.id == label.id
    expected = np.where(mask == 9, 0, mask)
    assert back.mask.dtype == np.uint8
    assert np.array_equal(back.mask, expected)


def test_an_erased_segmentation_is_an_all_zero_mask_of_the_original_size_under_its_id():
    fields, interface = interface_of({"seg": {"type": "segmentation", "mask_targets": {1: "road", 2: "sky"}}})
    label = fol.Segmentation(mask=np.array([[1, 1, 0], [2, 2, 0]], dtype=np.uint8))
    response = wire(labels_to_json_response(interface, {"seg": label}))
    response["SEG"]["annotations"] = []  # every region removed
    for erased in (response, {}):  # with the job left empty, or gone
        labels = json_response_to_labels(interface, fields["seg"], erased, {label.id: label}, image_size=(30, 20))
        assert list(labels) == [label.id]
        assert labels[label.id].mask.dtype == np.uint8
        assert np.array_equal(labels[label.id].mask, np.zeros((2, 3)))
    # nothing uploaded and nothing drawn: no label
    assert json_response_to_labels(interface, fields["seg"], {}, {}, image_size=(30, 20)) == {}


def test_segmentation_edit_is_read_at_the_size_of_the_uploaded_mask():
    fields, interface = interface_of({"seg": {"type": "segmentation", "mask_targets": {1: "road"}}})
    label = fol.Segmentation(mask=np.array([[1, 1, 0, 0], [1, 1, 0, 0]], dtype=np.uint8))
    response = wire(labels_to_json_response(interface, {"seg": label}))
    # the image is 8x4; the uploaded mask 4x2 and drawn over all of it
    labels = json_response_to_labels(interface, fields["seg"], response, {label.id: label}, image_size=(8, 4))
    assert np.array_equal(labels[label.id].mask, label.mask)


def test_segmentation_edit_is_read_at_the_image_size():
    fields, interface = interface_of({"seg": {"type": "segmentation", "mask_targets": {1: "road", 2: "sky"}}})
    label = fol.Segmentation(mask=np.array([[1, 1, 0, 0], [1, 1, 0, 0]], dtype=np.uint8))
    response = wire(labels_to_json_response(interface, {"seg": label}))
    annotations(response, interface, "seg")[0]["categories"] = [{"name": "SKY"}]
    labels = json_response_to_labels(interface, fields["seg"], response, {label.id: label}, image_size=(4, 2))
    assert np.array_equal(labels[label.id].mask, [[2, 2, 0, 0], [2, 2, 0, 0]])


# --------------------------------------------------------------------------
# scalars
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, classes, value, wire_value",
    [
        (fof.IntField(), None, 42, {"text": "42"}),
        (fof.FloatField(), None, 0.1, {"text": "0.1"}),
        (fof.FloatField(), None, 1e-20, {"text": "1e-20"}),
        (fof.StringField(), None, 'naïve, "quoted"\nline', {"text": 'naïve, "quoted"\nline'}),
        (fof.BooleanField(), None, False, {"categories": [{"name": "FALSE", "confidence": 100}]}),
        (fof.BooleanField(), None, True, {"categories": [{"name": "TRUE", "confidence": 100}]}),
        (fof.StringField(), ["x", "y z"], "y z", {"categories": [{"name": "Y_Z", "confidence": 100}]}),
        (fof.IntField(), [1, 2, 3], 2, {"categories": [{"name": "C_2", "confidence": 100}]}),
    ],
)
def test_scalars_round_trip(field, classes, value, wire_value):
    fields, interface = interface_of({"s": {"type": "scalar", "classes": classes}}, FieldTypes(s=field))
    response = wire(labels_to_json_response(interface, {"s": value}))
    assert response == {"S": wire_value}
    back = json_response_to_labels(interface, fields["s"], response, {})
    assert back == value and type(back) is type(value)


def test_scalar_numbers_typed_as_json_numbers_and_empty_answers():
    fields, interface = interface_of({"n": {"type": "scalar"}}, FieldTypes(n=fof.IntField()))
    assert json_response_to_labels(interface, fields["n"], {"N": {"text": 7}}, {}) == 7
    assert json_response_to_labels(interface, fields["n"], {"N": {"text": ""}}, {}) is None
    assert json_response_to_labels(interface, fields["n"], {}, {}) is None
    assert labels_to_json_response(interface, {"n": None}) == {}


def test_a_new_scalar_field_without_classes_is_numeric():
    # FiftyOne's resolved schema: a field the dataset does not have yet
    fields, interface = interface_of({"count": {"type": "scalar"}})
    job = interface.json_interface()["jobs"]["COUNT"]
    assert (job["mlTask"], job["content"]["input"]) == ("TRANSCRIPTION", "number")
    spec = fields["count"]
    for text, value in (("3", 3), (" -12 ", -12), ("2.5", 2.5), ("1e-3", 0.001), (7, 7), ("many", "many")):
        back = json_response_to_labels(interface, spec, {"COUNT": {"text": text}}, {})
        assert back == value and type(back) is type(value), text
    assert json_response_to_labels(interface, spec, {"COUNT": {"text": ""}}, {}) is None
    assert json_response_to_labels(interface, spec, {"COUNT": {"text": "nan"}}, {}) == "nan"


def test_an_existing_string_scalar_stays_text():
    fields, interface = interface_of({"note": {"type": "scalar"}}, FieldTypes(note=fof.StringField()))
    assert interface.json_interface()["jobs"]["NOTE"]["content"]["input"] == "textField"
    assert json_response_to_labels(interface, fields["note"], {"NOTE": {"text": "3"}}, {}) == "3"
