"""annotate -> a person works in Label Studio -> load_annotations."""

import pytest
from ls_helpers import add_images, dets, task_of

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


def _boxes(sample):
    return {d.id: d for d in sample.ground_truth.detections}


def test_edits_additions_and_deletions_come_back_by_id(dataset, media_dir, backend, annotator):
    add_images(
        dataset,
        media_dir,
        4,
        ground_truth=lambda i: dets(
            ("cat", [0.1, 0.1, 0.2, 0.2], {"pose": "front", "occluded": False, "note": "a"}),
            ("dog", [0.5, 0.5, 0.3, 0.3], {"pose": "side", "occluded": True, "note": "b"}),
        ),
    )
    samples = list(dataset)
    before = {s.id: _boxes(s) for s in samples}
    results = dataset.annotate("run", backend=backend, label_schema=SCHEMA)

    # sample 0: edit the cat (box, class, attributes), delete the dog, add a box
    s0 = samples[0]
    cat_id, dog_id = [d.id for d in s0.ground_truth.detections]
    task0 = task_of(results, s0.id)
    result = annotator.prefilled_result(task0)
    assert {r["id"] for r in result} == {cat_id, dog_id}
    result = [r for r in result if r["id"] != dog_id]
    for r in result:
        if r["from_name"] == "ground_truth":
            r["value"].update(x=20.0, y=30.0, width=10.0, height=5.0, rectanglelabels=["dog"])
        elif r["from_name"].endswith("pose"):
            r["value"]["choices"] = ["side"]
        elif r["from_name"].endswith("note"):
            r["value"]["text"] = ["edited"]
    assert not any(r["from_name"].endswith("occluded") for r in result)  # unticked on upload
    box = next(r for r in result if r["from_name"] == "ground_truth")
    result.append(
        dict(box, from_name="ground_truth__occluded", type="choices", value=dict(box["value"], choices=["occluded"]))
    )
    result.append(
        {
            "id": "newbox0001",
            "from_name": "ground_truth",
            "to_name": "image",
            "type": "rectanglelabels",
            "value": {"x": 60.0, "y": 10.0, "width": 25.0, "height": 20.0, "rotation": 0, "rectanglelabels": ["cat"]},
        }
    )
    annotator.submit(task0, result)

    # sample 1: an empty submission means "no objects in this image"
    annotator.submit(task_of(results, samples[1].id), [])
    # sample 2: skipped -> keeps its labels; sample 3: untouched -> keeps its labels
    annotator.skip(task_of(results, samples[2].id))

    dataset.load_annotations("run")
    after = {s.id: _boxes(s) for s in dataset}

    s0_after = after[s0.id]
    assert dog_id not in s0_after
    edited = s0_after[cat_id]
    assert edited.label == "dog"
    assert edited.bounding_box == pytest.approx([0.2, 0.3, 0.1, 0.05])
    assert edited.pose == "side"
    assert edited.occluded is True
    assert edited.note == "edited"
    new = [d for i, d in s0_after.items() if i != cat_id]
    assert len(new) == 1
    assert new[0].id not in before[s0.id]
    assert new[0].label == "cat"
    assert new[0].bounding_box == pytest.approx([0.6, 0.1, 0.25, 0.2])
    assert new[0].pose == "front"  # the schema default for a label the annotator added
    assert new[0].occluded is False

    assert after[samples[1].id] == {}

    for untouched in samples[2:]:
        assert set(after[untouched.id]) == set(before[untouched.id])
        for label_id, det in after[untouched.id].items():
            old = before[untouched.id][label_id]
            assert (det.label, det.bounding_box, det.pose, det.occluded, det.note) == (
                old.label,
                old.bounding_box,
                old.pose,
                old.occluded,
                old.note,
            )


def test_new_field_is_created_from_annotations(dataset, media_dir, backend, annotator):
    add_images(dataset, media_dir, 2)
    results = dataset.annotate(
        "new", backend=backend, label_field="animals", label_type="detections", classes=["cat", "dog"]
    )
    first = dataset.first()
    task = task_of(results, first.id)
    assert annotator.prefilled_result(task) == []
    annotator.submit(
        task,
        [
            {
                "id": "abc",
                "from_name": "animals",
                "to_name": "image",
                "type": "rectanglelabels",
                "value": {
                    "x": 10.0,
                    "y": 20.0,
                    "width": 30.0,
                    "height": 40.0,
                    "rotation": 0,
                    "rectanglelabels": ["dog"],
                },
            }
        ],
    )
    dataset.load_annotations("new")
    first.reload()
    assert [(d.label, d.bounding_box) for d in first.animals.detections] == [
        ("dog", pytest.approx([0.1, 0.2, 0.3, 0.4]))
    ]
    assert dataset.last().animals is None

    # loading again keeps the added label's id (and what was set on it)
    added_id = first.animals.detections[0].id
    dataset.tag_labels("checked", label_fields="animals")
    dataset.load_annotations("new")
    first.reload()
    assert [(d.id, d.tags) for d in first.animals.detections] == [(added_id, ["checked"])]


def test_latest_submitted_annotation_wins(dataset, media_dir, backend, annotator):
    add_images(dataset, media_dir, 1, ground_truth=lambda i: dets(("cat", [0.1, 0.1, 0.2, 0.2])))
    results = dataset.annotate(
        "latest", backend=backend, label_schema={"ground_truth": {"type": "detections", "classes": ["cat", "dog"]}}
    )
    task = task_of(results, dataset.first().id)
    first = annotator.prefilled_result(task)
    annotator.submit(task, first)
    second = annotator.prefilled_result(task)
    second[0]["value"]["rectanglelabels"] = ["dog"]
    annotator.submit(task, second)
    annotator.skip(task)  # a later skip does not undo a submitted annotation
    dataset.load_annotations("latest")
    assert [d.label for d in dataset.first().ground_truth.detections] == ["dog"]


def test_drafts_do_not_count(dataset, media_dir, backend, annotator):
    add_images(dataset, media_dir, 2, ground_truth=lambda i: dets(("cat", [0.1, 0.1, 0.2, 0.2])))
    before = [d.id for d in dataset.values("ground_truth.detections", unwind=True)]
    results = dataset.annotate(
        "drafts", backend=backend, label_schema={"ground_truth": {"type": "detections", "classes": ["cat", "dog"]}}
    )
    submitted, drafted = (task_of(results, i) for i in dataset.values("id"))
    annotator.submit(submitted, annotator.prefilled_result(submitted))
    annotator.save_draft(submitted, [])  # a later draft does not replace the submission
    annotator.save_draft(drafted, [])  # a draft alone leaves the sample as it is
    dataset.load_annotations("drafts")
    assert [d.id for d in dataset.values("ground_truth.detections", unwind=True)] == before
    assert [d.label for d in dataset.values("ground_truth.detections", unwind=True)] == ["cat", "cat"]


def test_results_survive_a_reload(dataset, media_dir, backend, annotator):
    add_images(dataset, media_dir, 2, ground_truth=lambda i: dets(("cat", [0.1, 0.1, 0.2, 0.2])))
    results = dataset.annotate(
        "reload", backend=backend, label_schema={"ground_truth": {"type": "detections", "classes": ["cat"]}}
    )
    expected = dict(results.uploaded_tasks)
    dataset.clear_cache() if hasattr(dataset, "clear_cache") else None
    reloaded = dataset.load_annotation_results("reload", cache=False)
    assert reloaded.uploaded_tasks == expected
    assert all(isinstance(k, int) for k in reloaded.uploaded_tasks)
    assert reloaded.project_id == results.project_id
    annotator.submit(task_of(reloaded, dataset.first().id), [])
    dataset.load_annotations("reload")
    assert dataset.first().ground_truth.detections == []
    assert len(dataset.last().ground_truth.detections) == 1
