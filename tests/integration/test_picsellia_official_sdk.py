"""The official Picsellia SDK (``picsellia`` 6.37.0, in its own virtual
environment ``.cache/picsellia-sdk-venv``, made by ``./run setup``) against
our Picsellia emulator: the SDK's lifecycle (``picsellia_sdk_script.py``),
and the SDK as the annotator of a run our backend made
(``picsellia_sdk_annotator_script.py``: a box added, boxes redrawn, a box
edited in place with ``Rectangle.update`` and one deleted), whose work our
load merges by label id.

The SDK runs in a subprocess; the tests check what it printed and what the
emulator saw.
"""

import json
import os
import subprocess

import pytest
from dataset_helpers import add_images, dets

from fo_annotation_backends.testing.picsellia import PicselliaEmulator

pytestmark = pytest.mark.integration

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SCHEMA = {"ground_truth": {"type": "detections", "classes": ["cat", "dog"]}}


def sdk_python():
    """The SDK venv's python; the test fails (never skips) without it."""
    cache = os.environ.get("FOAB_CACHE_DIR") or os.path.join(ROOT, ".cache")
    python = os.path.join(cache, "picsellia-sdk-venv", "bin", "python")
    if not os.access(python, os.X_OK):
        pytest.fail("The Picsellia SDK environment is missing: %s (run ./run setup)" % python)
    return python


def run_sdk(tmp_path, *args):
    env = dict(os.environ, HOME=str(tmp_path))
    env.pop("PYTHONPATH", None)  # the SDK's venv only: our package is not importable there
    env.pop("PICSELLIA_TOKEN", None)
    result = subprocess.run(
        [sdk_python(), *args], capture_output=True, text=True, env=env, timeout=300, cwd=str(tmp_path)
    )
    assert result.returncode == 0, "the SDK script failed:\n%s\n%s" % (result.stdout[-3000:], result.stderr[-6000:])
    return result.stdout.strip().splitlines()


def test_official_sdk_lifecycle(tmp_path):
    with PicselliaEmulator(api_key="sdk-test-key") as emulator:
        lines = run_sdk(tmp_path, os.path.join(HERE, "picsellia_sdk_script.py"), emulator.url, "sdk-test-key")
        stats = emulator.stats()
    assert lines[-1] == "OK"
    operations = stats["operations"]
    for name in (
        "GET home/ping", "GET organization/{id}", "GET organization/{id}/datalake", "POST datalake/{id}/datas",
        "POST storage", "POST organization/{id}/datasets", "POST dataset/{id}/versions", "POST V/assets",
        "GET job/{id}", "XGET V/bulk-labels", "POST annotation/{id}/bulk-rectangles", "POST annotation/{id}/save",
        "PATCH annotation/{id}", "POST V/bulk-annotations", "XGET V/annotations", "DELETE V/annotations",
        "POST V/campaigns", "POST campaigns/annotation/{id}/steps", "POST campaigns/annotation/{id}/assignments/sync",
    ):  # fmt: skip
        assert operations.get(name), (name, operations)
    assert stats["statuses"].get("401", 0) == 0 and operations.get("other", 0) == 0


def test_the_official_sdk_annotates_a_run_and_our_load_merges_it_by_label_id(
    picsellia_dataset, picsellia_backend, picsellia_emulator, tmp_path
):
    dataset = picsellia_dataset
    add_images(
        dataset,
        str(tmp_path),
        4,
        width=80,
        height=60,
        ground_truth=lambda i: dets(("cat", [0.1, 0.1, 0.2, 0.2]), ("dog", [0.5, 0.5, 0.25, 0.25])),
    )
    before = {s.id: {d.id: (d.label, d.bounding_box) for d in s.ground_truth.detections} for s in dataset}
    results = dataset.annotate("sdk", backend=picsellia_backend, label_schema=SCHEMA)
    add, redraw, edit, untouched = list(dataset)
    filenames = {d["id"]: d["filename"] for d in picsellia_emulator.state.datas.values()}
    version = picsellia_emulator.state.versions[results.version_id]
    config = {
        "version_id": results.version_id,
        "dataset": version["origin_name"],
        "version": version["version"],
        "add": filenames[results.data_ids[add.id]],
        "redraw": filenames[results.data_ids[redraw.id]],
        "edit": filenames[results.data_ids[edit.id]],
    }
    (line,) = run_sdk(
        tmp_path,
        os.path.join(HERE, "picsellia_sdk_annotator_script.py"),
        picsellia_emulator.url,
        picsellia_emulator.api_key,
        json.dumps(config),
    )[-1:]
    seen = json.loads(line)
    assert seen["version_id"] == results.version_id and seen["type"] == "OBJECT_DETECTION"
    assert seen["labels"] == ["cat", "dog"]
    assert seen["filenames"] == sorted(filenames.values()) and seen["sizes"] == [[80, 60]]
    cat_id, dog_id = [d.id for d in add.ground_truth.detections]
    assert seen["sent"] == sorted([[cat_id, "cat", 8, 6, 16, 12], [dog_id, "dog", 40, 30, 20, 15]])
    assert seen["redrawn"] == [[None, "cat", 32]] and seen["accepted"] == 3
    edit_cat, edit_dog = [d.id for d in edit.ground_truth.detections]
    assert seen["edited"] == [edit_cat, "dog", 24, 12, 32, 18] and seen["deleted"] == edit_dog
    assert seen["left"] == [seen["edited"]]

    dataset.load_annotations("sdk")
    add.reload()
    redraw.reload()
    untouched.reload()
    edit.reload()
    boxes = {d.id: d for d in add.ground_truth.detections}
    assert set(before[add.id]) < set(boxes)  # the pre-annotations kept by id, exactly
    for label_id, (label, box) in before[add.id].items():
        assert (boxes[label_id].label, boxes[label_id].bounding_box) == (label, box)
    (new_id,) = set(boxes) - set(before[add.id])
    assert boxes[new_id].label == "dog" and boxes[new_id].bounding_box == pytest.approx([0.5, 0.5, 0.2, 0.2])
    (redrawn,) = redraw.ground_truth.detections  # redrawn without our ids: a new label, the old ones deleted
    assert redrawn.id not in before[redraw.id] and redrawn.label == "cat"
    assert redrawn.bounding_box == pytest.approx([0.1, 0.1, 0.4, 0.4])
    # the shapes a person added keep their FiftyOne ids on the next load
    assert results.new_label_ids[seen["added_id"]] == new_id
    assert set(results.new_label_ids.values()) == {new_id, redrawn.id}
    assert {d.id: (d.label, d.bounding_box) for d in untouched.ground_truth.detections} == before[untouched.id]
    # an SDK edit is an edit of the same FiftyOne label, an SDK delete a deletion
    (edited,) = edit.ground_truth.detections
    assert edited.id == edit_cat and edited.label == "dog"
    assert edited.bounding_box == pytest.approx([0.3, 0.2, 0.4, 0.3])
