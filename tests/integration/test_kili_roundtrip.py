"""annotate -> people label and review in Kili -> load_annotations."""

import json

import fiftyone as fo
import fiftyone.core.labels as fol
import numpy as np
import pytest
from kili_helpers import add_images, asset_count, attr_job, attr_key, box_annotation, category, dets, job, key

from fo_annotation_backends.core.runs import STATUS_KEYS

pytestmark = pytest.mark.integration

SCHEMA = {
    "ground_truth": {
        "type": "detections",
        "classes": ["cat", "dog"],
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
        ("dog", [0.5, 0.5, 0.25, 0.25], {"pose": "side", "occluded": True, "note": "b"}),
    )


def _boxes(sample):
    return {d.id: d for d in (sample.ground_truth.detections if sample.ground_truth else [])}


def test_edits_additions_and_deletions_come_back_by_id(kili_dataset, kili_backend, kili_annotator, tmp_path):
    dataset = kili_dataset
    add_images(dataset, str(tmp_path), 4, ground_truth=_two_boxes)
    samples = list(dataset)
    before = {s.id: _boxes(s) for s in samples}
    results = dataset.annotate("run", backend=kili_backend, label_schema=SCHEMA)
    project = results.project_id
    assert asset_count(kili_annotator, project) == 4
    gt = job(results, "ground_truth")

    # sample 0: edit the cat (box, class, attributes), delete the dog, add a box
    s0 = samples[0]
    cat_id, dog_id = [d.id for d in s0.ground_truth.detections]
    response = kili_annotator.prefilled(project, results.asset_ids[s0.id])
    assert {a["mid"] for a in response[gt]["annotations"]} == {cat_id, dog_id}
    cat = next(a for a in response[gt]["annotations"] if a["mid"] == cat_id)
    edited = box_annotation(
        cat_id,
        key(results, "ground_truth", "dog"),
        0.2,
        0.3,
        0.5,
        0.4,
        children={
            attr_job(results, "ground_truth", "pose"): {
                "categories": [category(attr_key(results, "ground_truth", "pose", "side"))]
            },
            attr_job(results, "ground_truth", "occluded"): {
                "categories": [category(attr_key(results, "ground_truth", "occluded", True))]
            },
            attr_job(results, "ground_truth", "note"): {"text": "edited"},
        },
    )
    assert cat["categories"][0]["name"] == key(results, "ground_truth", "cat")
    added = box_annotation("new-box-1", key(results, "ground_truth", "cat"), 0.6, 0.6, 0.9, 0.8)
    response[gt]["annotations"] = [edited, added]
    kili_annotator.submit(project, results.asset_ids[s0.id], response, author="alice@example.com")

    # sample 2: everything deleted; sample 3: reviewed unchanged
    kili_annotator.submit(project, results.asset_ids[samples[2].id], {}, author="alice@example.com")
    s3_response = kili_annotator.prefilled(project, results.asset_ids[samples[3].id])
    kili_annotator.submit(
        project, results.asset_ids[samples[3].id], s3_response, author="bob@example.com", label_type="REVIEW"
    )

    dataset.load_annotations("run")
    after = {s.id: _boxes(s) for s in dataset}

    boxes0 = after[s0.id]
    assert dog_id not in boxes0
    assert boxes0[cat_id].label == "dog"
    assert boxes0[cat_id].bounding_box == pytest.approx([0.2, 0.3, 0.3, 0.1])
    assert (boxes0[cat_id].pose, boxes0[cat_id].occluded, boxes0[cat_id].note) == ("side", True, "edited")
    (new_id,) = set(boxes0) - {cat_id}
    assert boxes0[new_id].label == "cat"
    assert boxes0[new_id].bounding_box == pytest.approx([0.6, 0.6, 0.3, 0.2])
    assert boxes0[new_id].pose == "front"  # the schema default for new labels

    for untouched in (samples[1].id, samples[3].id):  # nobody looked / reviewed as is
        assert set(after[untouched]) == set(before[untouched])
        for label_id, label in before[untouched].items():
            assert after[untouched][label_id].bounding_box == pytest.approx(label.bounding_box)
            assert after[untouched][label_id].label == label.label
            assert after[untouched][label_id].pose == label.pose
            assert after[untouched][label_id].occluded == label.occluded
            assert after[untouched][label_id].note == label.note
    assert after[samples[2].id] == {}


def _mask(height, width, seed):
    rng = np.random.default_rng(seed)
    mask = np.zeros((height, width), dtype=np.uint8)
    mask[5:30, 10:50] = 1
    mask[12:20, 20:30] = 0  # a hole
    mask[35:55, 55:75] = 2
    mask[rng.integers(0, height, 20), rng.integers(0, width, 20)] = 2  # specks, diagonal neighbours
    return mask


def _instance_mask(seed):
    mask = np.ones((12, 16), dtype=bool)
    mask[4:8, 5:9] = False
    mask[0, 0] = False
    mask[11, 15] = False
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
    "caption": {"type": "scalar"},
    "flag": {"type": "scalar"},
    "quality": {"type": "scalar", "classes": ["good", "bad"]},
}


def _all_types_sample(i):
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
        "kps": fol.Keypoints(
            keypoints=[fol.Keypoint(label="point", points=[[0.2, 0.2], [float("nan"), float("nan")], [0.7, 0.3]])]
        ),
        "pose": fol.Keypoints(
            keypoints=[fol.Keypoint(label="person", points=[[0.5, 0.1], [float("nan"), float("nan")], [0.6, 0.5]])]
        ),
        "inst": fol.Detections(
            detections=[fol.Detection(label="blob", bounding_box=[0.1, 0.2, 0.2, 0.2], mask=_instance_mask(i))]
        ),
        "seg": fol.Segmentation(mask=_mask(60, 80, i)),
        "count": 3 + i,
        "caption": "a caption %d" % i,
        "flag": True,
        "quality": "good",
    }


def _add_all_types(dataset, folder, count):
    add_images(dataset, folder, count, width=80, height=60)
    dataset.skeletons = {"pose": fo.KeypointSkeleton(labels=["head", "hand", "foot"], edges=[[0, 1], [0, 2]])}
    dataset.save()
    for i, sample in enumerate(dataset.iter_samples(autosave=True)):
        for field, value in _all_types_sample(i).items():
            sample[field] = value


def _snapshot(sample):
    """Every field's labels by id, in comparable form."""
    out = {}
    for field in ALL_TYPES:
        value = sample[field]
        if isinstance(value, fol.Label):
            labels = {}
            for label in _iter(value):
                labels[label.id] = _comparable(label)
            out[field] = labels
        else:
            out[field] = value
    return out


def _iter(value):
    for attr in ("classifications", "detections", "polylines", "keypoints"):
        if hasattr(value, attr):
            return list(getattr(value, attr))
    return [value]


def _comparable(label):
    if isinstance(label, fol.Segmentation):
        return ("mask", label.get_mask().tolist())
    if isinstance(label, fol.Detection):
        mask = label.get_mask()
        return (
            label.label,
            [round(v, 9) for v in label.bounding_box],
            None if mask is None else mask.astype(bool).tolist(),
        )
    if isinstance(label, fol.Polyline):
        return (label.label, [[[round(c, 9) for c in p] for p in s] for s in label.points], label.closed, label.filled)
    if isinstance(label, fol.Keypoint):
        return (label.label, [[None if np.isnan(c) else round(c, 9) for c in p] for p in label.points])
    return (label.label,)


def test_every_label_type_survives_a_review_unchanged(kili_dataset, kili_backend, kili_annotator, tmp_path):
    dataset = kili_dataset
    _add_all_types(dataset, str(tmp_path), 2)
    before = {s.id: _snapshot(s) for s in dataset}
    results = dataset.annotate("all", backend=kili_backend, label_schema=ALL_TYPES)

    # the pose field became a pose job, the markers stayed markers
    interface = kili_annotator.graphql(
        "query($w: ProjectWhere!) { data: projects(where: $w, first: 1, skip: 0) { jsonInterface } }",
        {"w": {"id": results.project_id}},
    )["data"][0]["jsonInterface"]
    assert '"pose"' in interface and '"marker"' in interface

    for asset_id in results.asset_ids.values():
        response = kili_annotator.prefilled(results.project_id, asset_id)
        kili_annotator.submit(
            results.project_id, asset_id, response, author="reviewer@example.com", label_type="REVIEW"
        )

    dataset.load_annotations("all")
    after = {s.id: _snapshot(s) for s in dataset}
    for sample_id in before:
        for field in ALL_TYPES:
            assert after[sample_id][field] == before[sample_id][field], field


def test_every_label_type_takes_edits(kili_dataset, kili_backend, kili_annotator, tmp_path):
    dataset = kili_dataset
    _add_all_types(dataset, str(tmp_path), 1)
    sample = dataset.first()
    results = dataset.annotate("edits", backend=kili_backend, label_schema=ALL_TYPES)
    asset_id = results.asset_ids[sample.id]
    response = kili_annotator.prefilled(results.project_id, asset_id)

    response[job(results, "weather")]["categories"] = [category(key(results, "weather", "rainy"))]
    response[job(results, "scene")]["categories"] = [category(key(results, "scene", "outdoor"))]
    poly = response[job(results, "polys")]["annotations"][0]
    poly["boundingPoly"][0]["normalizedVertices"][0] = {"x": 0.05, "y": 0.05}
    response.pop(job(results, "lines"))  # the lane is deleted
    marker = next(a for a in response[job(results, "kps")]["annotations"] if a["mid"] == sample.kps.keypoints[0].id)
    marker["point"] = {"x": 0.25, "y": 0.75}
    response[job(results, "count")] = {"text": "42"}
    response[job(results, "caption")] = {"text": "edited caption"}
    response[job(results, "flag")]["categories"] = [category(key(results, "flag", "False"))]
    kili_annotator.submit(results.project_id, asset_id, response, author="alice@example.com")

    dataset.load_annotations("edits")
    sample.reload()
    assert sample.weather.label == "rainy"
    assert sample.weather.id == results.id_map["weather"][sample.id]
    assert [c.label for c in sample.scene.classifications] == ["outdoor"]
    assert sample.polys.polylines[0].points[0][0] == pytest.approx([0.05, 0.05])
    assert sample.polys.polylines[0].label == "道路 (main)"
    assert not sample.lines.polylines
    assert sample.kps.keypoints[0].points[0] == pytest.approx([0.25, 0.75])
    assert np.isnan(sample.kps.keypoints[0].points[1][0])
    assert sample.count == 42 and sample.caption == "edited caption" and sample.flag is False
    assert sample.quality == "good"


def _latest_box(annotator, results, sample_id, x0, author, label_type="DEFAULT"):
    gt = job(results, "ground_truth")
    asset_id = results.asset_ids[sample_id]
    response = annotator.prefilled(results.project_id, asset_id)
    annotation = response[gt]["annotations"][0]
    annotation["boundingPoly"] = box_annotation("x", "X", x0, 0.1, x0 + 0.1, 0.2)["boundingPoly"]
    annotator.submit(results.project_id, asset_id, response, author=author, label_type=label_type)


def _x_of(annotations, sample_id):
    boxes = annotations["ground_truth"]["detections"].get(sample_id)
    if boxes is None:
        return None
    return round(next(iter(boxes.values())).bounding_box[0], 6)


def test_label_selection_latest_review_and_one_annotator(kili_dataset, kili_backend, kili_annotator, tmp_path):
    dataset = kili_dataset
    add_images(dataset, str(tmp_path), 3, ground_truth=lambda i: dets(("cat", [0.0, 0.1, 0.1, 0.1])))
    s0, s1, s2 = [s.id for s in dataset]
    results = dataset.annotate("sel", backend=kili_backend, label_schema=SCHEMA)

    _latest_box(kili_annotator, results, s0, 0.3, "alice@example.com")
    _latest_box(kili_annotator, results, s0, 0.5, "bob@example.com", label_type="REVIEW")
    _latest_box(kili_annotator, results, s1, 0.3, "alice@example.com")
    _latest_box(kili_annotator, results, s1, 0.6, "carol@example.com")

    backend = results.backend
    results.config.label_selection = "latest"
    latest = backend.download_annotations(results)
    assert (_x_of(latest, s0), _x_of(latest, s1), _x_of(latest, s2)) == (0.5, 0.6, 0.0)

    results.config.label_selection = "latest_review"
    review = backend.download_annotations(results)
    assert (_x_of(review, s0), _x_of(review, s1), _x_of(review, s2)) == (0.5, 0.0, 0.0)

    results.config.label_selection = "annotator"
    results.config.annotator = "Alice@Example.com"
    alice = backend.download_annotations(results)
    assert (_x_of(alice, s0), _x_of(alice, s1), _x_of(alice, s2)) == (0.3, 0.3, 0.0)

    # a choice saved on the run is what load_annotations uses
    results.save_config()
    dataset.load_annotations("sel")
    xs = [round(s.ground_truth.detections[0].bounding_box[0], 6) for s in dataset]
    assert xs == [0.3, 0.3, 0.0]


def test_asset_filters_on_status_and_consensus(kili_dataset, kili_backend, kili_annotator, tmp_path):
    dataset = kili_dataset
    add_images(dataset, str(tmp_path), 3, ground_truth=lambda i: dets(("cat", [0.0, 0.1, 0.1, 0.1])))
    s0, s1, s2 = [s.id for s in dataset]
    results = dataset.annotate("filters", backend=kili_backend, label_schema=SCHEMA, status_in=["REVIEWED"])
    _latest_box(kili_annotator, results, s0, 0.3, "alice@example.com", label_type="REVIEW")
    _latest_box(kili_annotator, results, s1, 0.4, "alice@example.com")  # LABELED, not reviewed

    annotations = results.backend.download_annotations(results)
    assert (_x_of(annotations, s0), _x_of(annotations, s1), _x_of(annotations, s2)) == (0.3, 0.0, 0.0)

    results.config.status_in = None
    results.config.consensus_mark_gte = 0.8
    kili_annotator.set_marks(results.project_id, [results.asset_ids[s1]], consensus_mark=0.9)
    kili_annotator.set_marks(results.project_id, [results.asset_ids[s0]], consensus_mark=0.2)
    annotations = results.backend.download_annotations(results)
    assert (_x_of(annotations, s0), _x_of(annotations, s1), _x_of(annotations, s2)) == (0.0, 0.4, 0.0)


def test_status_editor_url_and_cleanup(kili_dataset, kili_backend, kili_annotator, kili_emulator, tmp_path, capsys):
    dataset = kili_dataset
    add_images(dataset, str(tmp_path), 3, ground_truth=lambda i: dets(("cat", [0.0, 0.1, 0.1, 0.1])))
    s0, s1, _ = [s.id for s in dataset]
    results = dataset.annotate("status", backend=kili_backend, label_schema=SCHEMA)
    _latest_box(kili_annotator, results, s0, 0.3, "alice@example.com")
    _latest_box(kili_annotator, results, s1, 0.3, "alice@example.com")
    _latest_box(kili_annotator, results, s1, 0.4, "bob@example.com", label_type="REVIEW")

    results = dataset.load_annotation_results("status")
    status = results.get_status()
    assert tuple(status) == STATUS_KEYS
    assert status["project_id"] == results.project_id and status["total"] == 3
    assert status["service"] == {"statuses": {"LABELED": 1, "REVIEWED": 1, "TODO": 1}, "upload_complete": True}
    assert (status["labeled"], status["reviewed"], status["unlabeled"], status["missing"]) == (2, 1, 1, 0)
    assert status["annotators"] == {"alice@example.com": 2, "bob@example.com": 1}
    results.print_status()
    printed = capsys.readouterr().out
    assert "REVIEWED" in printed and "bob@example.com: 1 label(s)" in printed
    root = kili_emulator.url.split("/api/label/")[0]
    assert results.project_url == "%s/label/projects/%s/" % (root, results.project_id)

    results.cleanup()
    projects = kili_annotator.graphql(
        "query($w: ProjectWhere!) { data: countProjects(where: $w) }", {"w": {"id": results.project_id}}
    )["data"]
    assert projects == 0


def test_reused_project_keeps_its_jobs_and_assets(kili_dataset, kili_backend, kili_annotator, tmp_path):
    dataset = kili_dataset
    add_images(dataset, str(tmp_path), 2, ground_truth=lambda i: dets(("cat", [0.0, 0.1, 0.1, 0.1])))
    foreign_job = {
        "mlTask": "CLASSIFICATION",
        "instruction": "Theirs",
        "required": 0,
        "isChild": False,
        "content": {"input": "radio", "categories": {"A": {"name": "A", "children": []}}},
    }
    project_id = kili_annotator.graphql(
        "mutation($data: CreateProjectData!) { data: createProject(data: $data) { id } }",
        {
            "data": {
                "title": "Theirs",
                "description": "",
                "inputType": "IMAGE",
                "jsonInterface": json.dumps({"jobs": {"THEIRS": foreign_job}}),
            }
        },
    )["data"]["id"]
    kili_annotator.graphql(
        "mutation($data: AppendManyAssetsData!, $where: ProjectWhere!) { data: appendManyAssets(data: $data, where: $where) { id } }",
        {
            "data": {"contentArray": ["http://127.0.0.1:9/x.png"], "externalIDArray": ["theirs-1"]},
            "where": {"id": project_id},
        },
    )
    results = dataset.annotate("reuse", backend=kili_backend, label_schema=SCHEMA, project_id=project_id)
    assert not results.project_created
    interface = json.loads(
        kili_annotator.graphql(
            "query($w: ProjectWhere!) { data: projects(where: $w, first: 1, skip: 0) { jsonInterface } }",
            {"w": {"id": project_id}},
        )["data"][0]["jsonInterface"]
    )
    assert interface["jobs"]["THEIRS"] == foreign_job and job(results, "ground_truth") in interface["jobs"]
    assert asset_count(kili_annotator, project_id) == 3

    results.cleanup()
    assert asset_count(kili_annotator, project_id) == 1  # only ours went

    # a conflicting job of the same name is refused before any upload
    conflicting = dict(foreign_job, instruction="other")
    kili_annotator.graphql(
        "mutation($data: ProjectData!, $where: ProjectWhere!) { data: updatePropertiesInProject(data: $data, where: $where) { id } }",
        {"data": {"jsonInterface": json.dumps({"jobs": {"GROUND_TRUTH": conflicting}})}, "where": {"id": project_id}},
    )
    with pytest.raises(Exception, match="GROUND_TRUTH"):
        dataset.annotate("reuse2", backend=kili_backend, label_schema=SCHEMA, project_id=project_id)
    assert "reuse2" not in dataset.list_annotation_runs()
    assert asset_count(kili_annotator, project_id) == 1


def test_new_markers_a_new_number_and_an_erased_segmentation(kili_dataset, kili_backend, kili_annotator, tmp_path):
    """FiftyOne's contract on every backend: new points of one class are one
    Keypoint, a new scalar field is numeric, an erased mask is all zeros."""
    mask = np.zeros((60, 80), dtype=np.uint8)
    mask[10:20, 10:30] = 1
    add_images(kili_dataset, str(tmp_path), 1, seg=lambda i: fol.Segmentation(mask=mask))
    schema = {
        "kp": {"type": "keypoints", "classes": ["person"]},
        "count": {"type": "scalar"},
        "seg": {"type": "segmentation", "mask_targets": {1: "road"}},
    }
    results = kili_dataset.annotate("rules", backend=kili_backend, label_schema=schema)
    sample = kili_dataset.first()
    asset = results.asset_ids[sample.id]
    response = kili_annotator.prefilled(results.project_id, asset)
    assert response[job(results, "seg")]["annotations"]
    response[job(results, "seg")]["annotations"] = []
    response[job(results, "kp")] = {
        "annotations": [
            {"mid": mid, "type": "marker", "categories": [category(key(results, "kp", "person"))], "point": point}
            for mid, point in (("m1", {"x": 0.2, "y": 0.3}), ("m2", {"x": 0.6, "y": 0.7}))
        ]
    }
    response[job(results, "count")] = {"text": "3"}
    kili_annotator.submit(results.project_id, asset, response)

    kili_dataset.load_annotations("rules")
    sample.reload()
    (keypoint,) = sample.kp.keypoints
    assert keypoint.label == "person" and [list(p) for p in keypoint.points] == [[0.2, 0.3], [0.6, 0.7]]
    assert sample.count == 3 and type(sample.count) is int
    assert sample.seg.id == results.id_map["seg"][sample.id]
    assert sample.seg.mask.shape == (60, 80) and not sample.seg.mask.any()


def test_added_labels_keep_their_ids_and_foreign_points_are_kept_once(
    kili_dataset, kili_backend, kili_annotator, tmp_path
):
    add_images(kili_dataset, str(tmp_path), 2, ground_truth=lambda i: dets(("cat", [0.1, 0.1, 0.2, 0.2])))
    schema = {"ground_truth": {"type": "detections", "classes": ["cat", "dog"]}}
    results = kili_dataset.annotate("ids", backend=kili_backend, label_schema=schema)
    first, second = list(kili_dataset)
    gt = job(results, "ground_truth")
    response = kili_annotator.prefilled(results.project_id, results.asset_ids[first.id])
    response[gt]["annotations"].append(
        box_annotation("added-1", key(results, "ground_truth", "dog"), 0.5, 0.5, 0.7, 0.7)
    )
    point = {
        "mid": "pt-1",
        "type": "marker",
        "categories": [category(key(results, "ground_truth", "cat"))],
        "point": {"x": 0.3, "y": 0.4},
        "children": {},
    }
    response[gt]["annotations"].append(point)
    kili_annotator.submit(results.project_id, results.asset_ids[first.id], response)
    uploaded_second = [d.id for d in second.ground_truth.detections]
    kili_annotator.submit(
        results.project_id,
        results.asset_ids[second.id],
        kili_annotator.prefilled(results.project_id, results.asset_ids[second.id]),
    )

    kili_dataset.load_annotations("ids", unexpected="keep")
    ids = sorted(kili_dataset.values("ground_truth.detections.id", unwind=True))
    (point_id,) = kili_dataset.values("keypoints.keypoints.id", unwind=True)
    kili_dataset.tag_labels("checked", label_fields="ground_truth")
    kili_dataset.load_annotations("ids", unexpected="keep")
    assert sorted(kili_dataset.values("ground_truth.detections.id", unwind=True)) == ids
    assert kili_dataset.values("keypoints.keypoints.id", unwind=True) == [point_id]  # merged, not added twice
    assert kili_dataset.count_label_tags() == {"checked": 3}

    # the field deleted from the dataset: the person's labels come back under their ids
    kili_dataset.delete_sample_field("ground_truth")
    kili_dataset.load_annotations("ids", unexpected="ignore")
    second.reload()
    assert [d.id for d in second.ground_truth.detections] == uploaded_second
