"""The official Kili SDK (its own virtual environment, ``.cache/kili-sdk-venv``,
made by ``./run setup``) against our Kili emulator: start-up checks included,
local uploads through signed URLs, hosted URLs, labels, filters, deletions,
and a VIDEO project (a native video imported asynchronously, frame-keyed labels
read back and parsed by the SDK).

The SDK runs in a subprocess (``kili_sdk_script.py``); this test checks what
it printed and what the emulator saw.
"""

import functools
import json
import os
import subprocess
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from fo_annotation_backends.testing.kili import KiliEmulator
from fo_annotation_backends.testing.videos import make_video

pytestmark = pytest.mark.integration

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SCRIPT = os.path.join(HERE, "kili_sdk_script.py")
LOCAL_SIZES = [(64, 48), (32, 40)]
HOSTED_SIZES = [(100, 80), (20, 10), (30, 30)]
VIDEO_FRAMES = 12


def sdk_python():
    """The SDK venv's python; the test fails (never skips) without it."""
    cache = os.environ.get("FOAB_CACHE_DIR") or os.path.join(ROOT, ".cache")
    python = os.path.join(cache, "kili-sdk-venv", "bin", "python")
    if not os.access(python, os.X_OK):
        pytest.fail("The Kili SDK environment is missing: %s (run ./run setup)" % python)
    return python


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def media(tmp_path):
    """Local images, and hosted ones served over http: ``(paths, urls)``."""
    folder = tmp_path / "media"
    folder.mkdir()
    paths = []
    for i, size in enumerate(LOCAL_SIZES):
        path = folder / ("local%d.png" % i)
        Image.new("RGB", size, (40 * i, 10, 10)).save(path)
        paths.append(str(path))
    for i, size in enumerate(HOSTED_SIZES):
        Image.new("RGB", size).save(folder / ("hosted%d.jpg" % i))
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    urls = ["http://127.0.0.1:%d/hosted%d.jpg" % (server.server_address[1], i) for i in range(len(HOSTED_SIZES))]
    yield paths, urls
    server.shutdown()
    server.server_close()


def run_script(python, emulator, tmp_path, paths, urls):
    config = {
        "url": emulator.url,
        "api_key": emulator.api_key,
        "work_dir": str(tmp_path),
        "local_images": paths,
        "http_images": urls,
        "local_video": make_video(str(tmp_path / "clip.mp4"), frames=VIDEO_FRAMES, fps=25),
        "broken_video": str(tmp_path / "broken.mp4"),
    }
    (tmp_path / "broken.mp4").write_bytes(b"an mp4 by name only")
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    # the SDK keeps a schema cache and a config under HOME: keep them in tmp
    env = dict(os.environ, HOME=str(tmp_path), KILI_DISABLE_TQDM="true")
    for name in ("KILI_SDK_SKIP_CHECKS", "KILI_API_KEY", "KILI_API_ENDPOINT"):
        env.pop(name, None)
    return subprocess.run(
        [python, SCRIPT, str(config_path)], capture_output=True, text=True, env=env, timeout=300, cwd=str(tmp_path)
    )


def test_official_sdk_round_trip(tmp_path, media):
    python = sdk_python()
    paths, urls = media
    # some of the SDK's countAssets calls get a 429: it must wait and retry
    faults = {"rate_limit": 0.5, "retry_after": 0.05, "fault_operations": ["countAssets"]}
    # two reads of an import's notification: the SDK polls once more (after 1 s)
    with KiliEmulator(api_key="sdk-test-key", faults=faults, seed=0, notification_reads=2) as emulator:
        result = run_script(python, emulator, tmp_path, paths, urls)
        assert result.returncode == 0, "the SDK script failed:\n%s\n%s" % (result.stdout[-3000:], result.stderr[-6000:])
        out = json.loads(result.stdout.strip().splitlines()[-1])
        stats = emulator.stats()
        projects_left = emulator.list_projects()
        base_url = emulator.base_url

    # a wrong key: refused at once, by the start-up check and after it
    assert out["wrong_key"].startswith("AuthenticationFailed") and out["wrong_key_seconds"] < 5
    assert out["wrong_key_skip_checks"].startswith("GraphQLError") and out["wrong_key_skip_checks_seconds"] < 5
    assert "invalid API key" in out["wrong_key_skip_checks"]

    project_id = out["project_id"]
    assert out["projects"][0]["title"] == "SDK round trip" and out["projects"][0]["inputType"] == "IMAGE"
    assert out["projects"][0]["jsonInterface"]["jobs"]["COLOR_JOB"]["isChild"] is True
    assert len(out["local_asset_ids"]) == 2 and len(out["hosted_asset_ids"]) == 3
    assert out["duplicate_append"] == "ImportValidationError"  # filterExistingAssets found them

    assets = {a["externalId"]: a for a in out["assets"]}
    assert list(assets) == ["local-0", "local-1", "hosted-0", "hosted-1", "hosted-2"]
    for i, (width, height) in enumerate(LOCAL_SIZES):
        asset = assets["local-%d" % i]
        assert asset["id"] == out["local_asset_ids"][i]
        prefix = "%s/storage/projects/%s/assets/%s/content?X-Goog-Signature=" % (base_url, project_id, asset["id"])
        assert asset["content"].startswith(prefix) and "&id=" in asset["content"]
        assert asset["resolution"] == {"width": width, "height": height}
        assert asset["jsonMetadata"] == {"source": "local", "index": i}
    for i, (width, height) in enumerate(HOSTED_SIZES):
        asset = assets["hosted-%d" % i]
        assert asset["content"] == urls[i] and asset["resolution"] == {"width": width, "height": height}
    assert all(a["status"] == "LABELED" for a in assets.values())

    expected_box = {"x": 0.1, "y": 0.6}
    first = assets["local-0"]
    default = [label for label in first["labels"] if label["labelType"] == "DEFAULT"][0]
    annotation = default["jsonResponse"]["OBJECT_DETECTION_JOB"]["annotations"][0]
    assert annotation["mid"] == "box-0" and annotation["boundingPoly"][0]["normalizedVertices"][0] == expected_box
    assert annotation["children"] == {"COLOR_JOB": {"categories": [{"name": "RED"}]}}
    assert default["author"]["email"] == "annotator@example.com" and default["isLatestLabelForUser"] is True
    assert first["latestLabel"]["id"] == default["id"]
    assert [label["labelType"] for label in first["labels"]] == ["DEFAULT", "PREDICTION"]

    labels = out["labels"]
    assert len(labels) == 6 and len(out["default_labels"]) == 5
    assert [label["labelType"] for label in labels] == ["DEFAULT"] * 5 + ["PREDICTION"]
    assert all(label["author"]["id"] == out["annotator_id"] for label in labels[:5])
    assert labels[5]["modelName"] == "model-1" and labels[5]["author"]["email"] == "emulator-admin@kili.local"
    stamps = [label["createdAt"] for label in labels]
    assert stamps == sorted(stamps) and len(set(stamps)) == 6
    assert {label["assetId"] for label in labels} == set(out["local_asset_ids"] + out["hosted_asset_ids"])

    assert (out["count_assets"], out["count_labeled"], out["count_labels"]) == (5, 5, 6)
    assert out["consensus_gte_half"] == [
        {"id": out["local_asset_ids"][1], "consensusMark": 0.75, "honeypotMark": 0.9, "jsonMetadata": {"updated": True}}
    ]
    assert out["by_external_id"] == [{"id": out["hosted_asset_ids"][0], "externalId": "hosted-0"}]
    assert out["paged"] == ["local-1", "hosted-0"]
    assert out["deleted"] == {
        "succeeded": [{"assetId": out["hosted_asset_ids"][2], "externalId": "hosted-2"}],
        "declined": [],
        "failed": [],
    }
    assert out["count_after_delete"] == 4
    assert out["deleted_project"] == project_id and out["projects_after_delete"] == 0
    assert projects_left == []

    check_video(out["video"], base_url)

    # the emulator saw the SDK's full start-up handshake and the uploads
    operations = stats["operations"]
    for name in ("viewer", "version", "__schema", "apiKeys", "organizations", "createUploadBucketSignedUrls"):
        assert operations.get(name), (name, operations)
    assert operations["storage_put"] == 4 and operations["appendManyAssets"] == 2
    assert operations["appendManyAssetsAsynchronously"] == 2 and operations["notifications"] == 4
    assert operations["deleteAssets"] == 1 and operations["deleteProjectAsynchronously"] == 2
    assert stats["faults"]["rate_limit"] >= 1 and stats["statuses"]["429"] == stats["faults"]["rate_limit"]
    assert stats["statuses"]["401"] == 2


def check_video(video, base_url):
    """What the SDK saw of the VIDEO project."""
    project_id = video["project_id"]
    assert video["append"] == {"id": project_id, "asset_ids": []}  # an asynchronous import names no assets
    (asset,) = video["assets"]
    assert asset["externalId"] == "video-0" and asset["resolution"] == {"width": 64, "height": 48}
    prefix = "%s/storage/projects/%s/assets/%s/content?X-Goog-Signature=" % (base_url, project_id, asset["id"])
    assert asset["content"].startswith(prefix)
    parameters = asset["jsonMetadata"]["processingParameters"]
    assert asset["jsonMetadata"]["source"] == "local"
    assert parameters["numberOfFrames"] == VIDEO_FRAMES and parameters["framesPlayedPerSecond"] == 25
    assert parameters["shouldUseNativeVideo"] is True and parameters["codec"] == "h264"
    (label,) = video["labels"]
    assert label["assetId"] == asset["id"] and label["id"] == video["appended_labels"][0]["id"]
    response = label["jsonResponse"]
    assert list(response) == [str(i) for i in range(VIDEO_FRAMES)]
    track = [frame["TRACK_JOB"]["annotations"][0] for frame in (response["0"], response["1"], response["2"])]
    assert [a["mid"] for a in track] == ["t1"] * 3 and [a["isKeyFrame"] for a in track] == [True, False, True]
    assert response["0"]["ANNOTATION_NAMES_JOB"] == {"t1": "car 1"}
    assert video["parsed"] == {"frames": VIDEO_FRAMES, "scene_frame_0": "DAY", "track_frame_2_mid": "t1"}
    assert video["broken"].startswith("BatchImportError")  # the notification failed
    assert video["count_assets"] == 1 and video["deleted_project"] == project_id


def test_cli_serves_the_sdk(tmp_path):
    """The command-line emulator (URL on the first line) answers the SDK's
    start-up handshake, and stops on SIGTERM."""
    python = sdk_python()
    process = subprocess.Popen(
        [sys.executable, "-m", "fo_annotation_backends.testing.kili", "--port", "0", "--api-key", "cli-sdk-key"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/api/label/v2/graphql")
        code = (
            "from kili.client import Kili; import sys; "
            "k = Kili(api_key='cli-sdk-key', api_endpoint=sys.argv[1], disable_tqdm=True); "
            "print(k.count_projects())"
        )
        env = dict(os.environ, HOME=str(tmp_path))
        env.pop("KILI_SDK_SKIP_CHECKS", None)
        result = subprocess.run([python, "-c", code, url], capture_output=True, text=True, env=env, timeout=120)
        assert result.returncode == 0, result.stderr[-3000:]
        assert result.stdout.strip() == "0"
        process.terminate()  # SIGTERM, to the process we started only
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()
