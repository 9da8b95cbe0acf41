"""Drop-in replacement: the built-in backend's registration, env vars and
parameters just work with ours."""

import json
import os
import subprocess
import sys
import textwrap
import webbrowser

import pytest
from ls_helpers import add_images, dets

pytestmark = pytest.mark.integration


def test_env_vars_and_config_file_select_our_backend(tmp_path, ls_server, media_dir):
    """FIFTYONE_LABELSTUDIO_* env vars and an annotation_config.json entry
    named `labelstudio` replace the built-in, as for any FiftyOne user."""
    config_path = tmp_path / "annotation_config.json"
    config_path.write_text(
        json.dumps(
            {"backends": {"labelstudio": {"config_cls": "fo_annotation_backends.labelstudio.LabelStudioBackendConfig"}}}
        )
    )
    script = textwrap.dedent(
        """
        import sys
        import fiftyone as fo
        import fiftyone.core.labels as fol
        from PIL import Image
        path = sys.argv[1] + "/env.png"
        Image.new("RGB", (32, 24)).save(path)
        ds = fo.Dataset()
        ds.add_sample(fo.Sample(filepath=path, gt=fol.Detections(detections=[fol.Detection(label="a", bounding_box=[0, 0, .5, .5])])))
        results = ds.annotate("env", label_schema={"gt": {"type": "detections", "classes": ["a"]}})
        print(type(results).__module__, results.config.url, len(results.uploaded_tasks))
        results.cleanup()
        ds.delete()
        """
    )
    env = dict(
        os.environ,
        FIFTYONE_ANNOTATION_CONFIG_PATH=str(config_path),
        FIFTYONE_ANNOTATION_DEFAULT_BACKEND="labelstudio",
        FIFTYONE_LABELSTUDIO_URL=ls_server.url,
        FIFTYONE_LABELSTUDIO_API_KEY=ls_server.legacy_token,
    )
    done = subprocess.run(
        [sys.executable, "-c", script, media_dir], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["fo_annotation_backends.labelstudio.backend", ls_server.url, "1"]
    assert ls_server.legacy_token not in done.stdout + done.stderr


def test_http_media_is_referenced_by_url(dataset, media_dir, backend, ls_client):
    """Media given as http(s) URLs (through `media_field`) is not uploaded:
    tasks point at the URL."""
    url = "https://example.com/images/cat%20one.jpg"
    add_images(dataset, media_dir, 1, gt=lambda i: dets(("cat", [0.1, 0.1, 0.2, 0.2])), web_url=lambda i: url)
    results = dataset.annotate(
        "remote",
        backend=backend,
        media_field="web_url",
        label_schema={"gt": {"type": "detections", "classes": ["cat"]}},
    )
    tasks = ls_client.export_tasks(results.project_id)
    assert [t["data"]["image"] for t in tasks] == [url]
    assert [
        p["result"][0]["id"] for p in ls_client.http.get_json("/api/predictions", params={"task": tasks[0]["id"]})
    ] == [dataset.first().gt.detections[0].id]


def test_launch_editor_opens_the_project(dataset, media_dir, backend, monkeypatch):
    opened = []
    monkeypatch.setattr(webbrowser, "open_new_tab", opened.append)
    add_images(dataset, media_dir, 1, gt=lambda i: dets(("cat", [0.1, 0.1, 0.2, 0.2])))
    results = dataset.annotate(
        "editor", backend=backend, label_schema={"gt": {"type": "detections", "classes": ["cat"]}}, launch_editor=True
    )
    assert opened == [results.project_url]
    assert results.project_url.endswith("/projects/%d/data" % results.project_id)
