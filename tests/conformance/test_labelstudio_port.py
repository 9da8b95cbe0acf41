"""FiftyOne's ``tests/intensive/labelstudio_tests.py``, ported to every backend.

- annotate_simple: a person places labels of each type (FiftyOne's five, plus
  classifications, polygons, instances, segmentation) on every sample of a
  new field, every sample comes back labelled, with the exact values; the
  cases of FiftyOne's import/export label mappings are the labels placed
  (percent rectangle -> box, polygon -> closed filled Polyline, points of one
  object -> one Keypoint, two classes of points -> two Keypoints, a number ->
  a numeric value);
- annotate_not_all, multiple_fields (loaded one field at a time),
  annotate_with_predictions (existing labels go up as pre-annotations, are
  accepted as they are, and come back unchanged under the same ids);
- the labeling config of every schema of FiftyOne's label-config cases has
  FiftyOne's controls and choices (Label Studio only).
"""

import xml.etree.ElementTree as ET

import fiftyone as fo
import fiftyone.core.labels as fol
import numpy as np
import pytest

from .conftest import CONFIG_CLASSES, registered_backend
from .helpers import HEIGHT, WIDTH, add_samples, box_tolerance, by_id, labels_of, rect_mask, snapshot

pytestmark = pytest.mark.integration

CLASSES = ["Airbus", "Boeing", "Cat", "Dog"]
SHAPES = ["Airplane", "Car"]
TAIL = [[0.39, 0.81], [0.333, 0.771], [0.424, 0.894], [0.424, 0.745], [0.5, 0.5]]
CAR_POLYGON = [[0.29, 0.56], [0.33, 0.8], [0.43, 0.91], [0.6, 0.9], [0.59, 0.45]]
TRIANGLE = [[0.1, 0.1], [0.4, 0.15], [0.2, 0.45]]


# label type -> (schema entry, [what the person does on sample i], [what sample i holds after loading])
SIMPLE = {
    "classification": (
        {"type": "classification", "classes": CLASSES},
        [lambda d: d.set_classes("f", ["Airbus"]), lambda d: d.set_classes("f", ["Dog"])],
        [("Airbus",), ("Dog",)],
    ),
    "classifications": (
        {"type": "classifications", "classes": CLASSES},
        [lambda d: d.set_classes("f", ["Airbus", "Boeing"]), lambda d: d.set_classes("f", ["Cat"])],
        [("Airbus", "Boeing"), ("Cat",)],
    ),
    "detections": (
        {"type": "detections", "classes": SHAPES},
        [
            lambda d: d.add_box("f", "Airplane", [0.05, 0.15, 0.32, 0.39]),
            lambda d: (d.add_box("f", "Car", [0.5, 0.25, 0.25, 0.5]), d.add_box("f", "Airplane", [0.1, 0.1, 0.2, 0.2])),
        ],
        [
            [("Airplane", [0.05, 0.15, 0.32, 0.39])],
            [("Airplane", [0.1, 0.1, 0.2, 0.2]), ("Car", [0.5, 0.25, 0.25, 0.5])],
        ],
    ),
    "polylines": (
        {"type": "polylines", "classes": SHAPES},
        [lambda d: d.add_polygon("f", "Car", CAR_POLYGON), lambda d: d.add_polygon("f", "Airplane", TRIANGLE)],
        [[("Car", [CAR_POLYGON])], [("Airplane", [TRIANGLE])]],
    ),
    "polygons": (
        {"type": "polygons", "classes": SHAPES},
        [lambda d: d.add_polygon("f", "Car", CAR_POLYGON), lambda d: d.add_polygon("f", "Airplane", TRIANGLE)],
        [[("Car", [CAR_POLYGON])], [("Airplane", [TRIANGLE])]],
    ),
    "keypoints": (
        {"type": "keypoints", "classes": ["Tail", "LEye", "REye"]},
        [
            lambda d: d.add_points("f", "Tail", TAIL),
            lambda d: (d.add_points("f", "LEye", TAIL[:2]), d.add_points("f", "REye", TAIL[2:4])),
        ],
        [[("Tail", TAIL)], [("LEye", TAIL[:2]), ("REye", TAIL[2:4])]],
    ),
    "instances": (
        {"type": "instances", "classes": SHAPES},
        [lambda d: d.add_mask("f", "Airplane", (10, 10, 30, 40)), lambda d: d.add_mask("f", "Car", (50, 20, 90, 60))],
        [[("Airplane", (10, 10, 30, 40))], [("Car", (50, 20, 90, 60))]],
    ),
    "segmentation": (
        {"type": "segmentation", "mask_targets": {1: "Planet", 2: "Moonwalker"}},
        [
            lambda d: (d.add_mask("f", "Planet", (0, 0, 50, 40)), d.add_mask("f", "Moonwalker", (60, 50, 100, 80))),
            lambda d: d.add_mask("f", "Moonwalker", (20, 20, 40, 40)),
        ],
        [[(1, (0, 0, 50, 40)), (2, (60, 50, 100, 80))], [(2, (20, 20, 40, 40))]],
    ),
    "scalar": (
        {"type": "scalar"},
        [lambda d: d.set_number("f", 100), lambda d: d.set_number("f", 42)],
        [100, 42],
    ),
}


@pytest.mark.parametrize("label_type", list(SIMPLE))
def test_annotate_simple(service, dataset, media, label_type):
    schema, actions, expected = SIMPLE[label_type]
    samples = add_samples(dataset, media, 2)
    results = dataset.annotate("simple", backend=service.name, label_schema={"f": schema})
    human = service.human(results)
    assert set(human.items()) == {s.id for s in samples}
    for sample, act in zip(samples, actions):
        doc = human.open(sample.id)
        assert doc.label_ids("f") == set()  # a new field: no pre-annotations
        act(doc)
        human.submit(doc)

    dataset.load_annotations("simple")
    values = dataset.values("f")
    assert len(dataset.exists("f")) == len(samples)
    if label_type == "scalar":
        # differs from the built-in: it loads a scalar as a dict (its test expects a Regression); a scalar field holds the number
        assert values == expected
        assert all(type(v) is int for v in values), [type(v) for v in values]
        return
    for value, want in zip(values, expected):
        if label_type == "classification":
            assert isinstance(value, fol.Classification) and (value.label,) == want
            continue
        if label_type == "segmentation":
            mask = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
            for pixel_value, rect in want:
                mask += rect_mask(rect, value=pixel_value)
            assert isinstance(value, fol.Segmentation)
            assert np.array_equal(value.get_mask(), mask)
            continue
        labels = sorted(labels_of(value), key=lambda label: label.label)
        if label_type == "classifications":
            assert tuple(label.label for label in labels) == want
            continue
        assert [label.label for label in labels] == [w[0] for w in want]
        for label, (_, geometry) in zip(labels, want):
            if label_type == "detections":
                assert label.bounding_box == pytest.approx(geometry, abs=box_tolerance(human))
            elif label_type == "instances":
                x0, y0, x1, y1 = geometry  # box and mask rebuilt from the region
                assert label.bounding_box == pytest.approx(
                    [x0 / WIDTH, y0 / HEIGHT, (x1 - x0) / WIDTH, (y1 - y0) / HEIGHT], abs=1e-6
                )
                assert np.array_equal(np.asarray(label.get_mask()).astype(bool), np.ones((y1 - y0, x1 - x0), bool))
            elif label_type == "keypoints":
                # points placed for one object come back as ONE Keypoint, in order
                assert np.allclose(label.points, geometry, atol=1e-6)
            else:
                assert len(label.points) == 1 and np.allclose(label.points[0], geometry[0], atol=1e-6)
                # a polygon tool's shape is a closed filled Polyline (FiftyOne's polygonlabels mapping case);
                # Label Studio draws polylines with it too, Kili's and FastLabel's line tools draw open lines
                closed = label_type == "polygons" or human.polylines_closed
                assert (label.closed, label.filled) == (closed, closed)


def test_annotate_not_all(service, dataset, media):
    samples = add_samples(dataset, media, 3)
    results = dataset.annotate(
        "not_all", backend=service.name, label_field="f", label_type="classification", classes=CLASSES
    )
    human = service.human(results)
    for sample, label in zip(samples[:2], ["Cat", "Boeing"]):
        doc = human.open(sample.id)
        doc.set_classes("f", [label])
        human.submit(doc)

    dataset.load_annotations("not_all")
    assert [v.label if v else None for v in dataset.values("f")] == ["Cat", "Boeing", None]
    assert len(dataset.exists("f")) == len(samples) - 1


def test_annotate_multiple_fields(service, dataset, media):
    samples = add_samples(dataset, media, 2)
    schema = {
        "cls_field": {"type": "classification", "classes": ["yes", "no"]},
        "det_field": {"type": "detections", "classes": ["obj"]},
    }
    results = dataset.annotate("multi", backend=service.name, label_schema=schema)
    human = service.human(results)
    boxes = [[0.1, 0.2, 0.3, 0.4], [0.5, 0.5, 0.2, 0.1]]
    for sample, bounding_box in zip(samples, boxes):
        doc = human.open(sample.id)
        doc.add_box("det_field", "obj", bounding_box)
        human.submit(doc)
    dataset.load_annotations("multi")
    assert len(dataset.exists("det_field")) == len(samples)
    assert len(dataset.exists("cls_field")) == 0

    # the person comes back and does the other field (the boxes stay)
    for sample, label in zip(samples, ["yes", "no"]):
        doc = human.open(sample.id)
        doc.set_classes("cls_field", [label])
        human.submit(doc)
    dataset.load_annotations("multi")
    assert [c.label for c in dataset.values("cls_field")] == ["yes", "no"]
    # the boxes are still there, once each (their ids: test_loading_twice_keeps_the_ids)
    assert [len(v.detections) for v in dataset.values("det_field")] == [1, 1]
    got = [d.bounding_box for v in dataset.values("det_field") for d in v.detections]
    assert got == [pytest.approx(b, abs=1e-6) for b in boxes]


def test_loading_twice_keeps_the_ids(service, dataset, media):
    """A label the person added keeps its FiftyOne id when the run is loaded
    again (FiftyOne saves the results after every load, so a backend can
    remember the ids it gave): tags and fields set on it in between survive."""
    samples = add_samples(dataset, media, 2)
    results = dataset.annotate("twice", backend=service.name, label_field="f", label_type="detections", classes=["obj"])
    human = service.human(results)
    doc = human.open(samples[0].id)
    doc.add_box("f", "obj", [0.1, 0.2, 0.3, 0.4])
    human.submit(doc)
    dataset.load_annotations("twice")
    (first_id,) = dataset.values("f.detections.id", unwind=True)
    dataset.tag_labels("checked", label_fields="f")  # a user's work on the loaded label
    dataset.load_annotations("twice")
    assert dataset.values("f.detections.id", unwind=True) == [first_id]
    assert dataset.values("f.detections.tags", unwind=True) == ["checked"]


def _existing_labels(label_type, i):
    rng = np.random.default_rng(100 + i)
    names = ["Cat", "Bear", "Horse", "Dog"]
    if label_type == "classification":
        return fol.Classification(label=names[i])
    if label_type == "detections":
        return fol.Detections(
            detections=[
                fol.Detection(label=names[(i + k) % 4], bounding_box=(rng.random(4) / 2).round(4).tolist())
                for k in range(2)
            ]
        )
    if label_type == "polylines":
        return fol.Polylines(
            polylines=[
                fol.Polyline(label=names[(i + k) % 4], points=[rng.random((n, 2)).round(4).tolist()])
                for k, n in enumerate((5, 6))
            ]
        )
    return fol.Keypoints(
        keypoints=[
            fol.Keypoint(label=names[(i + k) % 4], points=rng.random((n, 2)).round(4).tolist())
            for k, n in enumerate((5, 4))
        ]
    )


@pytest.mark.parametrize("label_type", ["classification", "detections", "polylines", "keypoints"])
def test_annotate_with_predictions(service, dataset, media, label_type):
    samples = add_samples(dataset, media, 2, f=lambda i: _existing_labels(label_type, i))
    before = snapshot(dataset, ["f"])
    results = dataset.annotate("preds", backend=service.name, label_field="f", label_type=label_type)

    human = service.human(results)
    assert len(human.items()) == len(samples)
    for sample in samples:
        doc = human.open(sample.id)
        # the existing labels are the pre-annotations the person sees
        assert doc.classes("f") == sorted(label.label for label in labels_of(sample.f))
        if label_type != "classification":
            assert doc.label_ids("f") == set(by_id(sample.f))
        human.submit(doc)  # accepted as they are

    dataset.load_annotations("preds")
    assert snapshot(dataset, ["f"]) == before


# FiftyOne's labeling-config cases: (label schema, its expected config)
LABEL_CONFIG_CASES = [
    (
        {"f": {"type": "classification", "classes": ["Adult content", "Weapons", "Violence"]}},
        '<View><Image name="image" value="$image"/><Choices name="f" toName="image" choice="single-radio">'
        '<Choice value="Adult content"/><Choice value="Weapons"/><Choice value="Violence"/></Choices></View>',
    ),
    (
        {"f": {"type": "classifications", "classes": ["Boeing", "Airbus"]}},
        '<View><Image name="image" value="$image"/><Choices name="f" toName="image" choice="multiple">'
        '<Choice value="Boeing"/><Choice value="Airbus"/></Choices></View>',
    ),
    (
        {"f": {"type": "detections", "classes": ["Airplane", "Car"]}},
        '<View><Image name="image" value="$image"/><RectangleLabels name="f" toName="image">'
        '<Label value="Airplane"/><Label value="Car"/></RectangleLabels></View>',
    ),
    (
        {"f": {"type": "instances", "classes": ["Airplane", "Car"]}},
        '<View><Image name="image" value="$image"/><BrushLabels name="f" toName="image">'
        '<Label value="Airplane"/><Label value="Car"/></BrushLabels></View>',
    ),
    (
        {"f": {"type": "polylines", "classes": ["Airplane", "Car"]}},
        '<View><Image name="image" value="$image"/><PolygonLabels name="f" toName="image">'
        '<Label value="Airplane"/><Label value="Car"/></PolygonLabels></View>',
    ),
    (
        {"f": {"type": "polygons", "classes": ["Airplane", "Car"]}},
        '<View><Image name="image" value="$image"/><PolygonLabels name="f" toName="image">'
        '<Label value="Airplane"/><Label value="Car"/></PolygonLabels></View>',
    ),
    (
        {"f": {"type": "keypoints", "classes": ["Engine", "Tail"]}},
        '<View><Image name="image" value="$image"/><KeyPointLabels name="f" toName="image">'
        '<Label value="Engine"/><Label value="Tail"/></KeyPointLabels></View>',
    ),
    (
        # differs from the built-in: a segmentation takes mask_targets (which pixel value each class gets), not bare classes
        {"f": {"type": "segmentation", "mask_targets": {1: "Planet", 2: "Moonwalker"}}},
        '<View><Image name="image" value="$image"/><BrushLabels name="f" toName="image">'
        '<Label value="Planet"/><Label value="Moonwalker"/></BrushLabels></View>',
    ),
    (
        {"f": {"type": "scalar"}},
        '<View><Image name="image" value="$image"/><Number name="f" toName="image"/></View>',
    ),
    (
        {
            "f": {"type": "segmentation", "mask_targets": {1: "Planet", 2: "Moonwalker"}},
            "f2": {"type": "classification", "classes": ["PlanetClass", "MoonwalkerClass"]},
            "f3": {"type": "classification", "classes": ["PlanetClass2", "MoonwalkerClass2"]},
            "f4": {"type": "detection", "classes": ["PlanetDet", "MoonwalkerDet"]},
        },
        '<View><Image name="image" value="$image"/><BrushLabels name="f" toName="image">'
        '<Label value="Planet"/><Label value="Moonwalker"/></BrushLabels>'
        '<Choices name="f2" toName="image" choice="single-radio">'
        '<Choice value="PlanetClass"/><Choice value="MoonwalkerClass"/></Choices>'
        '<Choices name="f3" toName="image" choice="single-radio">'
        '<Choice value="PlanetClass2"/><Choice value="MoonwalkerClass2"/></Choices>'
        '<RectangleLabels name="f4" toName="image"><Label value="PlanetDet"/><Label value="MoonwalkerDet"/>'
        "</RectangleLabels></View>",
    ),
]


def _controls(xml):
    """``{name: (tag, toName, choice, [child values])}`` of a config's tags."""
    out = {}
    for element in ET.fromstring(xml).iter():
        if element.get("name"):
            values = [child.get("value") for child in element]
            out[element.get("name")] = (element.tag, element.get("toName"), element.get("choice"), values)
    return out


def test_labeling_config_has_fiftyones_controls(ls_server, tmp_path):
    """Label Studio only: the project's labeling config for each of FiftyOne's
    label-config schemas has the same controls and choices (ours may carry
    more: headers, attribute controls)."""
    entry = {"config_cls": CONFIG_CLASSES["labelstudio"], "url": ls_server.url, "api_key": ls_server.legacy_token}
    dataset = fo.Dataset()
    try:
        add_samples(dataset, str(tmp_path), 1)
        with registered_backend("labelstudio", entry):
            for index, (schema, expected_xml) in enumerate(LABEL_CONFIG_CASES):
                key = "config%d" % index
                results = dataset.annotate(key, backend="labelstudio", label_schema=schema)
                try:
                    api = results.backend.connect_to_api()
                    xml = api.http.get_json("/api/projects/%d" % results.project_id)["label_config"]
                finally:
                    results.cleanup()
                    dataset.delete_annotation_run(key)
                ours, expected = _controls(xml), _controls(expected_xml)
                for name, control in expected.items():
                    tag = results.tags.get(name, name) if name != "image" else "image"
                    assert ours.get(tag) == control, (index, name, xml)
                assert ET.fromstring(xml).find("Image").get("value") == "$image"
    finally:
        dataset.delete()
