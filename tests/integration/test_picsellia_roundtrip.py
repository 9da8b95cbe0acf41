"""annotate -> people work on the Picsellia version -> load_annotations,
against the Picsellia emulator (real HTTP; our code is never mocked)."""

import json

import fiftyone as fo
import fiftyone.core.labels as fol
import numpy as np
import pytest
from dataset_helpers import add_images, dets

from fo_annotation_backends.core.errors import MediaError, ParameterError
from fo_annotation_backends.core.runs import STATUS_KEYS

pytestmark = pytest.mark.integration

SCHEMA = {"ground_truth": {"type": "detections", "classes": ["cat", "dog"]}}


def _two_boxes(i):
    return dets(("cat", [0.1, 0.1, 0.2, 0.2]), ("dog", [0.5, 0.5, 0.25, 0.25]))


def _boxes(sample):
    return {d.id: d for d in (sample.ground_truth.detections if sample.ground_truth else [])}


def _state(dataset):
    return {
        s.id: sorted((d.id, d.label, tuple(round(v, 9) for v in d.bounding_box)) for d in _boxes(s).values())
        for s in dataset
    }


def _created(emulator):
    """What exists on the server: datasets, versions, data, assets, annotations."""
    state = emulator.state
    with state.lock:
        return tuple(len(t) for t in (state.datasets, state.versions, state.datas, state.assets, state.annotations))


def _mutations(emulator):
    return {op: n for op, n in emulator.stats()["operations"].items() if not op.startswith(("GET", "XGET"))}


def test_edits_additions_and_deletions_come_back_by_label_id(
    picsellia_dataset, picsellia_backend, picsellia_annotator, tmp_path
):
    dataset = picsellia_dataset
    add_images(dataset, str(tmp_path), 4, width=80, height=60, ground_truth=_two_boxes)
    samples = list(dataset)
    before = {s.id: _boxes(s) for s in samples}
    results = dataset.annotate("run", backend=picsellia_backend, label_schema=SCHEMA)
    assert results.version_created and results.dataset_created and len(results.asset_ids) == 4
    version = results.version_id

    s0 = samples[0]
    cat_id, dog_id = [d.id for d in s0.ground_truth.detections]
    sent = picsellia_annotator.open(version, results.asset_ids[s0.id])
    assert sent["status"] == "PENDING"
    by_text = {r["text"]: r for r in sent["rectangles"]}
    assert set(by_text) == {cat_id, dog_id}
    cat = by_text[cat_id]
    assert (cat["label"], cat["x"], cat["y"], cat["w"], cat["h"]) == ("cat", 8, 6, 16, 12)
    moved = dict(cat, x=16, y=18, w=24, h=6, label="dog")  # moved, resized, relabelled; the dog deleted
    added = {"label": "cat", "x": 48, "y": 36, "w": 24, "h": 12}
    picsellia_annotator.annotate(version, results.asset_ids[s0.id], {"rectangles": [moved, added]})
    picsellia_annotator.annotate(version, results.asset_ids[samples[2].id], {})  # every box deleted
    opened = picsellia_annotator.open(version, results.asset_ids[samples[3].id])
    picsellia_annotator.set_status(opened["id"], "ACCEPTED")  # accepted as it was sent

    dataset.load_annotations("run")
    after = {s.id: _boxes(s) for s in dataset}
    boxes0 = after[s0.id]
    assert dog_id not in boxes0
    assert boxes0[cat_id].label == "dog"
    assert boxes0[cat_id].bounding_box == pytest.approx([0.2, 0.3, 0.3, 0.1])
    (new_id,) = set(boxes0) - {cat_id}
    assert boxes0[new_id].label == "cat" and boxes0[new_id].bounding_box == pytest.approx([0.6, 0.6, 0.3, 0.2])
    for sample_id in (samples[1].id, samples[3].id):  # never opened / accepted as is: exactly as before
        assert set(after[sample_id]) == set(before[sample_id])
        for label_id, label in before[sample_id].items():
            assert after[sample_id][label_id].label == label.label
            assert after[sample_id][label_id].bounding_box == label.bounding_box  # floats kept, not pixels
    assert after[samples[2].id] == {}


def test_a_label_added_in_picsellia_keeps_its_id_on_the_next_load(
    picsellia_dataset, picsellia_backend, picsellia_annotator, tmp_path
):
    dataset = picsellia_dataset
    add_images(dataset, str(tmp_path), 1, ground_truth=lambda i: dets(("cat", [0.1, 0.1, 0.2, 0.2])))
    results = dataset.annotate("twice", backend=picsellia_backend, label_schema=SCHEMA)
    asset = results.asset_ids[dataset.first().id]
    sent = picsellia_annotator.open(results.version_id, asset)
    added = {"label": "dog", "x": 40, "y": 30, "w": 16, "h": 12}
    picsellia_annotator.annotate(results.version_id, asset, {"rectangles": sent["rectangles"] + [added]})
    dataset.load_annotations("twice")
    ids = dataset.values("ground_truth.detections.id", unwind=True)
    assert len(ids) == 2
    dataset.tag_labels("checked", label_fields="ground_truth")
    dataset.load_annotations("twice")  # nothing changed in Picsellia: the same labels, tags kept
    assert dataset.values("ground_truth.detections.id", unwind=True) == ids
    assert dataset.count_label_tags() == {"checked": 2}


# the status each asset's newest annotation ends with, and whether its edit is
# loaded under each label_selection
SELECTION_CASES = [
    ("ACCEPTED", {"accepted": True, "latest": True}),
    ("REFUSED", {"accepted": False, "latest": True}),
    ("PENDING", {"accepted": False, "latest": True}),
    ("SKIPPED", {"accepted": False, "latest": False}),
    (None, {"accepted": False, "latest": False}),  # nobody opened it
]


@pytest.mark.parametrize("selection", ["accepted", "latest"])
def test_label_selection_chooses_the_annotation_that_counts(
    selection, picsellia_dataset, picsellia_backend, picsellia_annotator, tmp_path
):
    dataset = picsellia_dataset
    add_images(dataset, str(tmp_path), len(SELECTION_CASES), ground_truth=_two_boxes)
    before = _state(dataset)
    results = dataset.annotate("sel", backend=picsellia_backend, label_schema=SCHEMA, label_selection=selection)
    version = results.version_id
    samples = list(dataset)
    for sample, (status, _) in zip(samples, SELECTION_CASES):
        if status is None:
            continue
        asset = results.asset_ids[sample.id]
        kept = [r for r in picsellia_annotator.open(version, asset)["rectangles"] if r["label"] == "cat"]
        picsellia_annotator.annotate(version, asset, {"rectangles": kept}, status=status)  # the dog deleted

    status = results.get_status()
    counted = [case[1][selection] for case in SELECTION_CASES]
    assert status["service"]["statuses"] == {"ACCEPTED": 1, "REFUSED": 1, "PENDING": 2, "SKIPPED": 1}
    assert status["service"]["loadable"] == (sum(counted) + (selection == "latest"))  # + the untouched import
    assert status["service"]["label_selection"] == selection

    dataset.load_annotations("sel")
    after = _state(dataset)
    for sample, count in zip(samples, counted):
        if count:
            assert [entry[1] for entry in after[sample.id]] == ["cat"], sample.id
            assert after[sample.id] == before[sample.id][:1]
        else:
            assert after[sample.id] == before[sample.id]


def _seg(i):
    nan = float("nan")
    return {
        "weather": fol.Classification(label="sunny"),
        "scene": fol.Classifications(
            classifications=[fol.Classification(label="indoor"), fol.Classification(label="blurry")]
        ),
        "ground_truth": dets(("cat", [0.1, 0.1, 0.2, 0.2]), ("dog", [0.5, 0.5, 0.25, 0.25])),
        "pred": dets(("cat", [0.2, 0.2, 0.1, 0.1])),
        "polys": fol.Polylines(
            polylines=[
                fol.Polyline(label="cat", points=[[[0.1, 0.1], [0.4, 0.1], [0.3, 0.5]]], closed=True, filled=True)
            ]
        ),
        "lines": fol.Polylines(
            polylines=[
                fol.Polyline(label="lane", points=[[[0.0, 0.9], [0.5, 0.5], [1.0, 0.9]], [[0.1, 0.1], [0.2, 0.2]]])
            ]
        ),
        "kps": fol.Keypoints(keypoints=[fol.Keypoint(label="person", points=[[0.25, 0.25], [nan, nan], [0.75, 0.5]])]),
    }


MULTI = {
    "weather": {"type": "classification", "classes": ["sunny", "rainy", "cat"]},
    "scene": {"type": "classifications", "classes": ["indoor", "outdoor", "blurry"]},
    "ground_truth": {"type": "detections", "classes": ["cat", "dog"]},
    "pred": {"type": "detections", "classes": ["cat"]},
    "polys": {"type": "polygons", "classes": ["cat", "road"]},
    "lines": {"type": "polylines", "classes": ["lane"]},
    "kps": {"type": "keypoints", "classes": ["person"]},
}


def _comparable(value):
    if value is None:
        return None
    labels = next(
        (
            list(getattr(value, a))
            for a in ("classifications", "detections", "polylines", "keypoints")
            if hasattr(value, a)
        ),
        [value],
    )
    out = {}
    for label in labels:
        if isinstance(label, fol.Detection):
            out[label.id] = (label.label, [round(v, 9) for v in label.bounding_box])
        elif isinstance(label, fol.Polyline):
            out[label.id] = (label.label, [[[round(c, 9) for c in p] for p in s] for s in label.points], label.closed)
        elif isinstance(label, fol.Keypoint):
            out[label.id] = (label.label, [[None if np.isnan(c) else round(c, 9) for c in p] for p in label.points])
        else:
            out[label.id] = (label.label,)
    return out


def test_several_fields_share_one_multi_version_and_come_back_to_their_own_field(
    picsellia_dataset, picsellia_backend, picsellia_annotator, picsellia_emulator, tmp_path
):
    dataset = picsellia_dataset
    add_images(dataset, str(tmp_path), 2, width=80, height=60)
    for i, sample in enumerate(dataset.iter_samples(autosave=True)):
        for field, value in _seg(i).items():
            sample[field] = value
    before = {s.id: {f: _comparable(s[f]) for f in MULTI} for s in dataset}
    results = dataset.annotate("multi", backend=picsellia_backend, label_schema=MULTI)
    version = picsellia_emulator.state.versions[results.version_id]
    assert version["type"] == "MULTI"
    # "cat" is a rectangle of two fields: named after each; a polygon and a classification "cat" are not
    assert sorted(version["_labels"].values()) == sorted(
        [
            "sunny",
            "rainy",
            "cat",
            "indoor",
            "outdoor",
            "blurry",
            "ground_truth/cat",
            "dog",
            "pred/cat",
            "road",
            "lane",
            "person",
        ]
    )

    first, second = list(dataset)
    asset = results.asset_ids[first.id]
    sent = picsellia_annotator.open(results.version_id, asset)
    assert len(sent["lines"]) == 2 and len(sent["keypoints"]) == 1 and len(sent["classifications"]) == 3
    weather = next(c for c in sent["classifications"] if c["label"] == "sunny")
    kept_scene = next(c for c in sent["classifications"] if c["label"] == "indoor")
    line = sent["lines"][0]
    polygon = sent["polygons"][0]
    point = sent["keypoints"][0]
    pred_box = next(r for r in sent["rectangles"] if r["label"] == "pred/cat")
    gt_boxes = [r for r in sent["rectangles"] if r["label"] != "pred/cat"]
    edited = {
        "classifications": [dict(weather, label="rainy"), kept_scene, {"label": "outdoor"}],
        "rectangles": gt_boxes + [dict(pred_box, x=40)],
        "polygons": [dict(polygon, polygon=[[8, 6], [40, 6], [40, 30]], label="road")],
        "lines": [dict(line, line=[[0, 30], [80, 30]])],  # the second part of the polyline deleted
        "keypoints": [dict(point, keypoints=[[20, 15, 2], [40, 30, 2], [0, 0, 0]])],
    }
    picsellia_annotator.annotate(results.version_id, asset, edited)
    untouched = picsellia_annotator.open(results.version_id, results.asset_ids[second.id])
    picsellia_annotator.set_status(untouched["id"], "ACCEPTED")

    dataset.load_annotations("multi")
    first.reload()
    second.reload()
    assert {f: _comparable(second[f]) for f in MULTI} == before[second.id]
    old = before[first.id]
    assert first.weather.label == "rainy" and first.weather.id == next(iter(old["weather"]))
    scene = {c.label: c.id for c in first.scene.classifications}
    assert set(scene) == {"indoor", "outdoor"} and scene["indoor"] in old["scene"]
    assert scene["outdoor"] not in old["scene"]
    assert _comparable(first.ground_truth) == old["ground_truth"]
    (pred,) = first.pred.detections
    assert pred.id in old["pred"] and pred.label == "cat" and pred.bounding_box[0] == pytest.approx(0.5)
    (poly,) = first.polys.polylines
    assert poly.id in old["polys"] and poly.label == "road" and poly.closed and poly.filled
    assert poly.points == [[pytest.approx([0.1, 0.1]), pytest.approx([0.5, 0.1]), pytest.approx([0.5, 0.5])]]
    (lane,) = first.lines.polylines
    assert lane.id in old["lines"] and not lane.closed and lane.points == [[[0.0, 0.5], [1.0, 0.5]]]
    (person,) = first.kps.keypoints
    assert person.id in old["kps"]
    assert person.points[:2] == [pytest.approx([0.25, 0.25]), pytest.approx([0.5, 0.5])]
    assert all(np.isnan(c) for c in person.points[2])


def test_a_reused_version_of_an_incompatible_type_is_refused_before_anything_is_created(
    picsellia_dataset, picsellia_backend, picsellia_emulator, tmp_path
):
    dataset = picsellia_dataset
    add_images(dataset, str(tmp_path), 2, ground_truth=_two_boxes)
    first = dataset.limit(1).annotate("boxes", backend=picsellia_backend, label_schema=SCHEMA)
    created = _created(picsellia_emulator)
    picsellia_emulator.reset_stats()
    lines = {"lines": {"type": "polylines", "classes": ["lane"]}}
    with pytest.raises(ParameterError, match="is of type OBJECT_DETECTION.*needs a LINE") as info:
        dataset.skip(1).annotate(
            "lines", backend=picsellia_backend, label_schema=lines, dataset_version_id=first.version_id
        )
    assert "nothing was uploaded" in str(info.value)
    assert _mutations(picsellia_emulator) == {}
    assert _created(picsellia_emulator) == created
    assert "lines" not in dataset.list_annotation_runs()

    # a compatible schema goes into the same version
    second = dataset.skip(1).annotate(
        "more", backend=picsellia_backend, label_schema=SCHEMA, dataset_version_id=first.version_id
    )
    assert second.version_id == first.version_id and not second.version_created and not second.dataset_created
    assert len(picsellia_emulator.state.versions[first.version_id]["_assets"]) == 2


def test_status_and_print_status(picsellia_dataset, picsellia_backend, picsellia_annotator, tmp_path, capsys):
    add_images(picsellia_dataset, str(tmp_path), 4, ground_truth=_two_boxes)
    results = picsellia_dataset.annotate("st", backend=picsellia_backend, label_schema=SCHEMA)
    samples = list(picsellia_dataset)
    version = results.version_id
    picsellia_annotator.annotate(version, results.asset_ids[samples[0].id], {}, status="ACCEPTED")
    picsellia_annotator.refuse(version, results.asset_ids[samples[1].id])
    picsellia_annotator.annotate(version, results.asset_ids[samples[2].id], {}, status="SKIPPED")
    status = results.get_status()
    assert tuple(status) == STATUS_KEYS
    assert status["project_id"] == version
    assert (status["total"], status["labeled"], status["reviewed"], status["unlabeled"], status["missing"]) == (
        4,
        1,
        0,
        3,
        0,
    )
    assert status["annotators"] == {}
    assert status["service"]["statuses"] == {"ACCEPTED": 1, "REFUSED": 1, "SKIPPED": 1, "PENDING": 1}
    assert "campaign_id" not in status["service"]
    results.print_status()
    printed = capsys.readouterr().out
    assert version in printed and results.project_url in printed
    assert "assets:    4" in printed and "labeled:   1 (accepted annotations)" in printed
    assert "REFUSED:   1" in printed and "SKIPPED:   1" in printed


def test_a_campaign_assigns_the_assets_to_its_steps(
    picsellia_dataset, picsellia_backend, picsellia_emulator, tmp_path, capsys
):
    add_images(picsellia_dataset, str(tmp_path), 3, ground_truth=_two_boxes)
    user = picsellia_emulator.state.username
    steps = [{"name": "Draw", "assignees": [user]}, {"name": "Check", "type": "REVIEW", "assignees": [user]}]
    results = picsellia_dataset.annotate(
        "camp", backend=picsellia_backend, label_schema=SCHEMA, campaign_steps=steps, campaign_instructions="Be exact"
    )
    assert results.campaign_created and results.campaign_id
    state = picsellia_emulator.state
    campaign = state.campaigns[results.campaign_id]
    assert campaign["dataset_version_id"] == results.version_id and campaign["instructions_text"] == "Be exact"
    service = results.get_status()["service"]
    assert service["campaign_id"] == results.campaign_id
    assert [(s["name"], s["type"]) for s in service["steps"]] == [("Draw", "ANNOTATION"), ("Check", "REVIEW")]
    assert sum(sum(s["statuses"].values()) for s in service["steps"]) == 3  # one assignment per asset
    assert service["assignees"] == {state.user_id: 3}
    results.print_status()
    assert "step Draw (ANNOTATION)" in capsys.readouterr().out


def test_an_unknown_assignee_is_refused_before_anything_is_created(
    picsellia_dataset, picsellia_backend, picsellia_emulator, tmp_path
):
    add_images(picsellia_dataset, str(tmp_path), 2, ground_truth=_two_boxes)
    with pytest.raises(ParameterError, match="nobody.*nothing was uploaded"):
        picsellia_dataset.annotate(
            "who", backend=picsellia_backend, label_schema=SCHEMA, campaign_steps=[{"assignees": ["nobody"]}]
        )
    assert _mutations(picsellia_emulator) == {}
    assert _created(picsellia_emulator) == (0, 0, 0, 0, 0)
    assert "who" not in picsellia_dataset.list_annotation_runs()


def test_launch_editor_opens_the_version_page(
    picsellia_dataset, picsellia_backend, picsellia_emulator, tmp_path, monkeypatch
):
    add_images(picsellia_dataset, str(tmp_path), 1, ground_truth=_two_boxes)
    results = picsellia_dataset.annotate("ed", backend=picsellia_backend, label_schema=SCHEMA)
    opened = []
    monkeypatch.setattr("webbrowser.open_new_tab", opened.append)
    results.launch_editor()
    assert opened == ["%s/dataset/%s/version/%s" % (picsellia_emulator.url, results.dataset_id, results.version_id)]


@pytest.mark.parametrize("media", ["missing", "remote"])
def test_bad_media_is_refused_with_nothing_created(
    media, picsellia_dataset, picsellia_backend, picsellia_emulator, tmp_path
):
    add_images(picsellia_dataset, str(tmp_path), 2, ground_truth=_two_boxes)
    sample = picsellia_dataset.first()
    sample.filepath = str(tmp_path / "gone.png") if media == "missing" else "https://example.com/image.jpg"
    sample.save()
    with pytest.raises(MediaError) as info:
        picsellia_dataset.annotate("bad", backend=picsellia_backend, label_schema=SCHEMA)
    assert ("gone.png" if media == "missing" else "remote") in str(info.value)
    assert picsellia_emulator.stats()["requests"] == 0
    assert _created(picsellia_emulator) == (0, 0, 0, 0, 0)
    assert "bad" not in picsellia_dataset.list_annotation_runs()


def test_the_token_never_reaches_the_database(picsellia_dataset, picsellia_backend, picsellia_emulator, tmp_path):
    add_images(picsellia_dataset, str(tmp_path), 1, ground_truth=_two_boxes)
    results = picsellia_dataset.annotate("secret", backend=picsellia_backend, label_schema=SCHEMA)
    key = picsellia_emulator.api_key
    assert key not in json.dumps(picsellia_dataset.get_annotation_info("secret").serialize(), default=str)
    assert key not in json.dumps(results.serialize(), default=str)
    stored = fo.load_dataset(picsellia_dataset.name).load_annotation_results("secret", cache=False)
    assert stored.get_status()["total"] == 1
