"""The official FastLabel SDK (``fastlabel`` 0.26.0, in its own virtual
environment ``.cache/fastlabel-sdk-venv``, made by ``./run setup``) against
our FastLabel emulator: projects, classes, image and classification tasks
from files, listing with tags and pages, updates, counts, tags, deletions,
and how the SDK sees errors (401, 404, 409, 429); video and video
classification tasks from local MP4s (tracks, the SDK's own H.264 check).

The SDK runs in a subprocess (``fastlabel_sdk_script.py``); this test checks
what it printed and what the emulator saw.
"""

import json
import os
import subprocess
import sys

import pytest
from PIL import Image

from fo_annotation_backends.testing.fastlabel import FastLabelEmulator
from fo_annotation_backends.testing.videos import MovingBox, make_mpeg4_video, make_video

pytestmark = pytest.mark.integration

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SCRIPT = os.path.join(HERE, "fastlabel_sdk_script.py")


def sdk_python():
    """The SDK venv's python; the test fails (never skips) without it."""
    cache = os.environ.get("FOAB_CACHE_DIR") or os.path.join(ROOT, ".cache")
    python = os.path.join(cache, "fastlabel-sdk-venv", "bin", "python")
    if not os.access(python, os.X_OK):
        pytest.fail("The FastLabel SDK environment is missing: %s (run ./run setup)" % python)
    return python


def sdk_env(tmp_path, url, token):
    env = dict(os.environ, HOME=str(tmp_path), FASTLABEL_API_URL=url, FASTLABEL_ACCESS_TOKEN=token)
    env.pop("PYTHONPATH", None)
    return env


@pytest.fixture
def images(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    paths = {}
    for name, size, fmt in (
        ("png0", (64, 48), "PNG"),
        ("png1", (32, 40), "PNG"),
        ("jpg", (20, 10), "JPEG"),
        ("gif", (8, 8), "GIF"),
    ):
        path = folder / ("%s.%s" % (name, fmt.lower()))
        Image.new("RGB", size, (200, 30, 30)).save(path, format=fmt)
        paths[name] = str(path)
    return paths


def run_script(python, tmp_path, emulator, **config):
    """Runs the SDK script against ``emulator``; what it printed."""
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(dict(config, control_url=emulator.base_url + "/_emulator/")))
    result = subprocess.run(
        [python, SCRIPT, str(config_path)],
        capture_output=True,
        text=True,
        env=sdk_env(tmp_path, emulator.url, emulator.api_key),
        timeout=300,
        cwd=str(tmp_path),
    )
    assert result.returncode == 0, "the SDK script failed:\n%s\n%s" % (result.stdout[-3000:], result.stderr[-6000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_official_sdk_round_trip(tmp_path, images):
    python = sdk_python()
    with FastLabelEmulator(api_key="sdk-test-key") as emulator:
        out = run_script(python, tmp_path, emulator, images=images)
        stats = emulator.stats()
        left = (dict(emulator.state.projects), dict(emulator.state.tasks))

    assert out["wrong_key"]["type"] == "FastLabelInvalidException" and out["wrong_key"]["code"] == 401

    all_id, bbox_id, cls_id = out["project_ids"]
    assert out["find_project"]["id"] == all_id and out["find_project"]["type"] == "image_all"
    assert out["find_project_by_slug"]["id"] == bbox_id and out["find_missing_slug"] is None
    assert out["duplicate_project"]["code"] == 409

    classes = out["class_ids"]
    assert [a["value"] for a in out["annotations"]] == ["cat", "road", "sky", "scene"]
    cat = out["find_annotation_by_value"]
    assert (
        cat["id"] == classes["cat"]
        and cat["color"] == "#ff0000"
        and [a["key"] for a in cat["attributes"]] == ["kind", "size"]
    )
    assert out["find_annotation"]["maxAreaCount"] is None
    assert out["update_annotation"]["title"] == "Main road"
    assert isinstance(out["classification_class"], str)
    assert out["wrong_type_class"]["code"] == 400

    t0, t1, t2, tb = out["task_ids"]
    assert len(set(out["task_ids"])) == 4
    assert out["duplicate_task"]["code"] == 409 and "local0.png" in out["duplicate_task"]["message"]
    assert out["unknown_class"]["code"] == 400 and "dog" in out["unknown_class"]["message"]
    assert out["gif_refused_by_sdk"]["code"] == 422  # refused by the SDK before sending

    task = out["task0"]
    assert (task["id"], task["name"], task["width"], task["height"]) == (t0, "local0.png", 64, 48)
    assert (task["status"], task["priority"], task["tags"]) == ("registered", 20, ["run-1", "batch-a"])
    assert task["assignee"] == "Emulator Admin" and task["metadatas"] == [{"key": "source", "value": "sdk"}]
    assert out["task0_url_serves_the_image"] is True
    box, road, sky, scene = task["annotations"]
    assert box["points"] == [5, 6, 30, 40] and box["rotation"] == 10 and box["title"] == "Cat"
    assert box["attributes"] == [
        {"key": "kind", "name": "Kind", "type": "text", "value": "tabby"},
        {"key": "size", "name": "Size", "type": "select", "value": "small"},
    ]
    assert road["points"] == [0, 0, 20, 0, 20, 10] and len(sky["points"]) == 2
    assert scene["type"] == "classification" and scene["attributes"][0]["value"] == "sunny" and scene["points"] == []

    assert out["by_name"] == t1 and out["by_missing_name"] is None
    assert out["run1"] == ["local0.png", "local1.jpg"] and out["run1_and_batch_a"] == ["local0.png"]
    assert out["paged"] == ["local0.png", "local1.jpg", "local2.png"]
    assert out["limit_over_1000"]["code"] == 422

    updated = out["update_image_task"]
    assert updated["id"] == t0 and updated["status"] == "completed"
    after = out["task0_after"]
    assert after == updated and [a["value"] for a in after["annotations"]] == ["cat", "road"]
    assert (
        after["annotations"][0]["points"] == [6, 7, 31, 41]
        and after["annotations"][0]["attributes"] == box["attributes"]
    )
    # the SDK strips ids: the edited annotations got new ones
    assert not {a["id"] for a in after["annotations"]} & {a["id"] for a in task["annotations"]}

    assert (out["count_all"], out["count_completed"], out["count_run1"], out["count_run1_completed"]) == (3, 1, 2, 1)
    assert (out["tags_added"], out["tags_added_again"], out["tags_removed"]) == (3, 0, 2)
    assert out["foreign_task_tags"]["code"] == 400
    assert out["update_task"]["priority"] == 30 and out["update_task"]["tags"] == ["extra"]
    assert out["id_name_map"] == {t0: "local0.png", t1: "local1.jpg", t2: "local2.png"}
    assert [u["userSlug"] for u in out["users"]] == ["emulator-admin"]

    cls_tasks = out["classification_tasks"]
    assert [t["name"] for t in cls_tasks] == ["c0.png", "c1.jpg"] and out["classification_run1"] == ["c0.png"]
    assert cls_tasks[0]["attributes"] == [{"key": "weather", "name": "Weather", "type": "radio", "value": "sunny"}]
    assert out["classification_update"]["attributes"][0]["value"] == "rainy"
    assert out["classification_find"] == out["classification_update"] and out["classification_by_name"] == "c1.jpg"

    assert out["task0_after_delete_annotations"] == []
    assert out["deleted_task"]["code"] == 404
    assert out["annotations_after_delete"] == ["cat", "sky", "scene"]
    assert out["rate_limited"]["code"] == 429 and out["rate_limited"]["type"] == "FastLabelInvalidException"
    assert out["deleted_project"]["code"] == 404 and out["projects_after"] == []
    assert left == ({}, {})

    operations = stats["operations"]
    for name in (
        "POST projects", "GET projects", "GET projects/{id}", "DELETE projects/{id}", "POST annotations",
        "POST annotations/classification", "GET annotations", "GET annotations/{id}", "PUT annotations/{id}",
        "DELETE annotations/{id}", "POST tasks/image", "GET tasks/image", "GET tasks/image/{id}", "PUT tasks/image/{id}",
        "POST tasks/image/classification", "GET tasks/image/classification", "GET tasks/image/classification/{id}",
        "PUT tasks/image/classification/{id}", "PUT tasks/{id}", "DELETE tasks/{id}", "DELETE tasks/{id}/task-annotations",
        "GET tasks/count", "GET tasks/map/id-name", "POST tasks/tags/add", "POST tasks/tags/remove", "GET workspaces-users",
        "GET storage",
    ):  # fmt: skip
        assert operations.get(name), (name, operations)
    assert operations["POST tasks/image"] == 6 and operations["DELETE projects/{id}"] == 3
    assert stats["statuses"]["401"] == 1 and stats["statuses"]["429"] == 1 == stats["faults"]["rate_limit"]
    assert "201" not in stats["statuses"]


def test_official_sdk_video_round_trip(tmp_path):
    """The SDK's video calls: create_video_task from local MP4s with a track
    (and its local refusal of a non-H.264 file), get_video_tasks, updates,
    video classification."""
    python = sdk_python()
    videos = {
        "h264": make_video(str(tmp_path / "clip.mp4"), [MovingBox(2, 2, 10, 10)], frames=10),
        "mpeg4": make_mpeg4_video(str(tmp_path / "mpeg4.mp4"), frames=10),
    }
    with FastLabelEmulator(api_key="sdk-video-key") as emulator:
        out = run_script(python, tmp_path, emulator, videos=videos)
        operations = emulator.stats()["operations"]
        left = (dict(emulator.state.projects), dict(emulator.state.tasks))

    v0, v1 = out["video_task_ids"]
    # refused by the SDK before sending: the emulator never saw the MPEG-4 files
    for refusal in (out["video_non_h264_refused_by_sdk"], out["video_classification_non_h264"]):
        assert refusal["code"] == 422 and "H.264" in refusal["message"]
    assert operations["POST tasks/video"] == 3 and operations["POST tasks/video/classification"] == 1
    assert out["video_duplicate"]["code"] == 409

    task = out["video_task"]
    assert (task["id"], task["name"], task["width"], task["height"]) == (v0, "clip.mp4", 64, 48)
    assert (task["fps"], task["frameCount"], task["duration"]) == (25.0, 10, 0.4)
    assert (task["tags"], task["priority"], task["metadatas"]) == (["run-1"], 10, [{"key": "source", "value": "sdk"}])
    assert out["video_url_serves_the_video"] is True
    [track] = task["annotations"]
    assert track["attributes"] == [{"key": "kind", "name": "Kind", "type": "text", "value": "sedan"}]
    points = track["points"]
    assert list(points) == ["1", "2", "3", "4", "5"]
    assert [points[k]["autogenerated"] for k in points] == [False, True, True, True, False]
    assert points["3"]["value"] == [4, 2, 14, 12] and points["5"]["value"] == [6, 2, 16, 12]

    assert out["video_run1"] == ["clip.mp4"] and out["video_by_name"] == v1
    assert out["video_paged"] == ["clip.mp4", "clip2.mp4"]
    assert out["video_limit_over_10"]["code"] == 422  # the SDK's own check

    updated = out["update_video_task"]
    assert updated["status"] == "completed"
    [edited] = updated["annotations"]
    assert edited["id"] != track["id"]  # the SDK strips ids
    assert edited["points"]["3"] == {"value": [6, 2, 16, 12], "autogenerated": True}  # interpolated again
    assert edited["points"]["5"] == {"value": [10, 2, 20, 12], "autogenerated": False}
    assert edited["attributes"] == track["attributes"]
    assert out["update_task"]["priority"] == 30 and out["update_task"]["tags"] == ["extra"]
    assert out["update_task"]["frameCount"] == 10
    assert out["video_completed"] == ["clip.mp4"] and out["video_count"] == 2

    [cls_task] = out["video_classification_tasks"]
    assert cls_task["frameCount"] == 10
    assert cls_task["attributes"] == [{"key": "weather", "name": "Weather", "type": "radio", "value": "sunny"}]
    assert out["video_classification_update"]["attributes"][0]["value"] == "rainy"
    assert out["video_classification_find"] == out["video_classification_update"]
    assert out["video_classification_by_name"] == cls_task["id"]
    assert out["projects_after"] == [] and left == ({}, {})


def test_cli_serves_the_sdk(tmp_path):
    """The command-line emulator (base URL on the first line) serves the SDK,
    and stops on SIGTERM."""
    python = sdk_python()
    process = subprocess.Popen(
        [sys.executable, "-m", "fo_annotation_backends.testing.fastlabel", "--port", "0", "--api-key", "cli-sdk-key"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1/")
        code = (
            "import fastlabel, json; c = fastlabel.Client(); "
            "c.create_project(type='image_bbox', name='CLI', slug='cli'); "
            "print(json.dumps([p['slug'] for p in c.get_projects()]))"
        )
        result = subprocess.run(
            [python, "-c", code], capture_output=True, text=True, env=sdk_env(tmp_path, url, "cli-sdk-key"), timeout=120
        )
        assert result.returncode == 0, result.stderr[-3000:]
        assert json.loads(result.stdout.strip().splitlines()[-1]) == ["cli"]
        process.terminate()  # SIGTERM, to the process we started only
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()
