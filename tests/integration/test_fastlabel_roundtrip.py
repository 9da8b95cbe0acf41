"""annotate -> people work in FastLabel's editor -> load_annotations."""

import fiftyone as fo
import fiftyone.core.labels as fol
import numpy as np
import pytest
from dataset_helpers import add_images, dets

pytestmark = pytest.mark.integration

SCHEMA = {
    "ground_truth": {
        "type": "detections",
        "classes": ["cat", "dog & <bird>"],
        "attributes": {
            "pose": {"type": "select", "values": ["front", "side"], "default": "front"},
            "occluded": {"type": "checkbox"},
            "note": {"type": "text"},
        },
    }
}


def _two_boxes(i):
    return dets(
        ("cat", [0.1, 0.1, 0.2, 0.2], {"pose": "front", "occluded": False, "note": "a"}),
        ("dog & <bird>", [0.5, 0.5, 0.25, 0.25], {"pose": "side", "occluded": True, "note": "b"}),
    )


def _boxes(sample):
    return {d.id: d for d in (sample.ground_truth.detections if sample.ground_truth else [])}


def _value(results, field, name):
    return results.interface_mapping["classes"][field][name]


def _fastlabel_id(results, label_id):
    return next(a for a, part in results.annotation_ids.items() if part == label_id)


def test_edits_additions_and_deletions_come_back_by_id(
    fastlabel_dataset, fastlabel_backend, fastlabel_annotator, tmp_path
):
    dataset = fastlabel_dataset
    add_images(dataset, str(tmp_path), 4, width=80, height=60, ground_truth=_two_boxes)
    samples = list(dataset)
    before = {s.id: _boxes(s) for s in samples}
    results = dataset.annotate("run", backend=fastlabel_backend, label_schema=SCHEMA, tags=["batch-7"], priority="high")

    s0 = samples[0]
    cat_id, dog_id = [d.id for d in s0.ground_truth.detections]
    task = fastlabel_annotator.task(results.task_ids[s0.id])
    assert task["tags"] == ["run", "batch-7"] and task["priority"] == 30
    assert (task["width"], task["height"]) == (80, 60)
    by_id = {a["id"]: a for a in task["annotations"]}
    cat = by_id[_fastlabel_id(results, cat_id)]
    assert cat["points"] == pytest.approx([8, 6, 24, 18])
    cat["points"] = [16, 18, 40, 24]  # moved and resized in the editor
    cat["value"] = _value(results, "ground_truth", "dog & <bird>")
    for attribute in cat["attributes"]:
        if attribute["key"].endswith("pose"):
            attribute["value"] = next(
                o
                for k, o in results.interface_mapping["attribute_options"]["ground_truth"]["pose"].items()
                if k == "side"
            )
        elif attribute["key"].endswith("occluded"):
            attribute["value"] = True
        elif attribute["key"].endswith("note"):
            attribute["value"] = "edited"
    added = {
        "type": "bbox",
        "value": _value(results, "ground_truth", "cat"),
        "points": [48, 36, 72, 48],
        "attributes": [],
    }
    fastlabel_annotator.submit(task["id"], [cat, added])

    fastlabel_annotator.submit(results.task_ids[samples[2].id], [])  # everything deleted
    untouched_but_open = fastlabel_annotator.task(results.task_ids[samples[3].id])
    fastlabel_annotator.submit(untouched_but_open["id"], untouched_but_open["annotations"], status="approved")

    dataset.load_annotations("run")
    after = {s.id: _boxes(s) for s in dataset}
    boxes0 = after[s0.id]
    assert dog_id not in boxes0
    assert boxes0[cat_id].label == "dog & <bird>"
    assert boxes0[cat_id].bounding_box == pytest.approx([0.2, 0.3, 0.3, 0.1])
    assert (boxes0[cat_id].pose, boxes0[cat_id].occluded, boxes0[cat_id].note) == ("side", True, "edited")
    (new_id,) = set(boxes0) - {cat_id}
    assert boxes0[new_id].label == "cat" and boxes0[new_id].bounding_box == pytest.approx([0.6, 0.6, 0.3, 0.2])
    for sample_id in (samples[1].id, samples[3].id):  # never opened / approved as is
        assert set(after[sample_id]) == set(before[sample_id])
        for label_id, label in before[sample_id].items():
            got = after[sample_id][label_id]
            assert (got.label, got.pose, got.occluded, got.note) == (
                label.label,
                label.pose,
                label.occluded,
                label.note,
            )
            assert got.bounding_box == pytest.approx(label.bounding_box)
    assert after[samples[2].id] == {}


def test_only_tasks_with_a_loaded_status_count(fastlabel_dataset, fastlabel_backend, fastlabel_annotator, tmp_path):
    dataset = fastlabel_dataset
    add_images(dataset, str(tmp_path), 3, ground_truth=lambda i: dets(("cat", [0.1, 0.1, 0.2, 0.2])))
    samples = list(dataset)
    results = dataset.annotate("status", backend=fastlabel_backend, label_schema=SCHEMA, load_statuses=["approved"])
    for sample, status in zip(samples, ("completed", "approved", "sent_back")):
        fastlabel_annotator.submit(results.task_ids[sample.id], [], status=status)

    status = results.get_status()
    assert status["service"]["statuses"] == {"completed": 1, "approved": 1, "sent_back": 1}
    assert (status["total"], status["labeled"], status["reviewed"], status["unlabeled"]) == (3, 1, 1, 2)

    dataset.load_annotations("status")
    counts = [len(s.ground_truth.detections) if s.ground_truth else 0 for s in dataset]
    assert counts == [1, 0, 1]  # only the approved task's (empty) work was merged


def _instance_mask():
    mask = np.ones((12, 16), dtype=bool)
    mask[4:8, 5:9] = False
    mask[0, 0] = False
    return mask


def _seg_mask(height, width):
    mask = np.zeros((height, width), dtype=np.uint8)
    mask[5:30, 10:50] = 1
    mask[12:20, 20:30] = 0
    mask[35:55, 55:75] = 2
    mask[40, 60] = 0
    return mask


ALL_TYPES = {
    "weather": {"type": "classification", "classes": ["sunny", "rainy"]},
    "scene": {"type": "classifications", "classes": ["indoor", "outdoor", "blurry"]},
    "polys": {"type": "polygons", "classes": ["road", "道路 (main)"]},
    "lines": {"type": "polylines", "classes": ["lane"]},
    "kps": {"type": "keypoints", "classes": ["point"]},
    "pose": {"type": "keypoints", "classes": ["person"]},
    "inst": {"type": "instances", "classes": ["blob"]},
    "seg": {"type": "segmentation", "mask_targets": {1: "road", 2: "car"}},
    "count": {"type": "scalar"},
    "flag": {"type": "scalar"},
    "quality": {"type": "scalar", "classes": ["good", "bad"]},
}


def _all_types(i):
    nan = float("nan")
    return {
        "weather": fol.Classification(label="sunny"),
        "scene": fol.Classifications(
            classifications=[fol.Classification(label="indoor"), fol.Classification(label="blurry")]
        ),
        "polys": fol.Polylines(
            polylines=[
                fol.Polyline(
                    label="道路 (main)", points=[[[0.1, 0.1], [0.4, 0.1], [0.3, 0.5]]], closed=True, filled=True
                )
            ]
        ),
        "lines": fol.Polylines(polylines=[fol.Polyline(label="lane", points=[[[0.0, 0.9], [0.5, 0.5], [1.0, 0.9]]])]),
        "kps": fol.Keypoints(keypoints=[fol.Keypoint(label="point", points=[[0.25, 0.25], [nan, nan], [0.75, 0.5]])]),
        "pose": fol.Keypoints(keypoints=[fol.Keypoint(label="person", points=[[0.5, 0.1], [nan, nan], [0.625, 0.5]])]),
        "inst": fol.Detections(
            detections=[fol.Detection(label="blob", bounding_box=[0.125, 0.2, 0.2, 0.2], mask=_instance_mask())]
        ),
        "seg": fol.Segmentation(mask=_seg_mask(60, 80)),
        "count": 3 + i,
        "flag": True,
        "quality": "good",
    }


def _comparable(value):
    if value is None or not isinstance(value, fol.Label):
        return value
    labels = []
    for attr in ("classifications", "detections", "polylines", "keypoints"):
        if hasattr(value, attr):
            labels = list(getattr(value, attr))
            break
    else:
        labels = [value]
    out = {}
    for label in labels:
        if isinstance(label, fol.Segmentation):
            out[label.id] = label.get_mask().tolist()
        elif isinstance(label, fol.Detection):
            mask = label.get_mask()
            out[label.id] = (
                label.label,
                [round(v, 9) for v in label.bounding_box],
                None if mask is None else mask.astype(bool).tolist(),
            )
        elif isinstance(label, fol.Polyline):
            out[label.id] = (
                label.label,
                [[[round(c, 9) for c in p] for p in s] for s in label.points],
                label.closed,
                label.filled,
            )
        elif isinstance(label, fol.Keypoint):
            out[label.id] = (label.label, [[None if np.isnan(c) else round(c, 9) for c in p] for p in label.points])
        else:
            out[label.id] = (label.label,)
    return out


def test_every_label_type_survives_a_review_unchanged(
    fastlabel_dataset, fastlabel_backend, fastlabel_annotator, tmp_path
):
    dataset = fastlabel_dataset
    add_images(dataset, str(tmp_path), 2, width=80, height=60)
    dataset.skeletons = {"pose": fo.KeypointSkeleton(labels=["head", "hand", "foot"], edges=[[0, 1], [0, 2]])}
    dataset.save()
    for i, sample in enumerate(dataset.iter_samples(autosave=True)):
        for field, value in _all_types(i).items():
            sample[field] = value
    before = {s.id: {f: _comparable(s[f]) for f in ALL_TYPES} for s in dataset}
    results = dataset.annotate("all", backend=fastlabel_backend, label_schema=ALL_TYPES)
    assert results.project_type == "image_all"

    for task_id in results.task_ids.values():
        task = fastlabel_annotator.task(task_id)
        fastlabel_annotator.submit(task_id, task["annotations"], status="reviewed")

    dataset.load_annotations("all")
    after = {s.id: {f: _comparable(s[f]) for f in ALL_TYPES} for s in dataset}
    for sample_id in before:
        for field in ALL_TYPES:
            assert after[sample_id][field] == before[sample_id][field], field


def test_a_classification_only_schema_uses_classification_tasks(
    fastlabel_dataset, fastlabel_backend, fastlabel_annotator, tmp_path
):
    dataset = fastlabel_dataset
    add_images(dataset, str(tmp_path), 2, weather=lambda i: fol.Classification(label="sunny"))
    schema = {"weather": ALL_TYPES["weather"], "quality": ALL_TYPES["quality"]}
    results = dataset.annotate("cls", backend=fastlabel_backend, label_schema=schema)
    assert results.project_type == "image_classification"
    sample = dataset.first()
    task = fastlabel_annotator.task(results.task_ids[sample.id], classification=True)
    choices = results.interface_mapping["choices"]
    keys = results.interface_mapping["fields"]
    attributes = [
        {"key": keys["weather"], "value": choices["weather"]["rainy"]},
        {"key": keys["quality"], "value": choices["quality"]["bad"]},
    ]
    assert {a["key"] for a in task["attributes"]} >= {keys["weather"]}
    fastlabel_annotator.submit(task["id"], attributes=attributes, classification=True)

    dataset.load_annotations("cls")
    sample.reload()
    assert sample.weather.label == "rainy" and sample.weather.id == results.id_map["weather"][sample.id]
    assert sample.quality == "bad"


def test_cleanup_deletes_the_project_or_only_the_runs_tasks(
    fastlabel_dataset, fastlabel_backend, fastlabel_emulator, tmp_path
):
    dataset = fastlabel_dataset
    add_images(dataset, str(tmp_path), 3, ground_truth=lambda i: dets(("cat", [0.1, 0.1, 0.2, 0.2])))
    first = dataset.limit(2).annotate("first", backend=fastlabel_backend, label_schema=SCHEMA)
    second = dataset.skip(2).annotate(
        "second", backend=fastlabel_backend, label_schema=SCHEMA, project=first.project_slug
    )
    assert not second.project_created
    client = first.backend.connect_to_api()
    assert client.call("GET", "tasks/count", params={"project": first.project_slug}) == 3

    second.cleanup()
    assert client.call("GET", "tasks/count", params={"project": first.project_slug}) == 2
    first.cleanup()
    assert client.find_project(first.project_slug) is None


def test_a_label_added_in_fastlabel_keeps_its_id_on_the_next_load(
    fastlabel_dataset, fastlabel_backend, fastlabel_annotator, tmp_path
):
    dataset = fastlabel_dataset
    add_images(dataset, str(tmp_path), 1, ground_truth=lambda i: dets(("cat", [0.1, 0.1, 0.2, 0.2])))
    results = dataset.annotate("twice", backend=fastlabel_backend, label_schema=SCHEMA)
    task = fastlabel_annotator.task(results.task_ids[dataset.first().id])
    added = {
        "type": "bbox",
        "value": _value(results, "ground_truth", "cat"),
        "points": [40, 30, 56, 42],
        "attributes": [],
    }
    fastlabel_annotator.submit(task["id"], task["annotations"] + [added])
    dataset.load_annotations("twice")
    ids = dataset.values("ground_truth.detections.id", unwind=True)
    assert len(ids) == 2
    dataset.tag_labels("checked", label_fields="ground_truth")
    dataset.load_annotations("twice")  # nothing changed in FastLabel: the same labels, tags kept
    assert dataset.values("ground_truth.detections.id", unwind=True) == ids
    assert dataset.count_label_tags() == {"checked": 2}
