"""The App workflow, in a browser: the FiftyOne App server with this
repository as its plugin, driven in headless Chromium.

request annotations (operator form) -> a person edits a box and deletes
another in Kili (the emulator) -> annotation run status (operator form) ->
load annotations (operator form, with its preview) -> the dataset changed;
the ``annotation_runs`` panel lists the run. Screenshots of each step are
kept (see conftest.py).
"""

import os
import re
import time
import uuid

import fiftyone as fo
import fiftyone.core.labels as fol
import numpy as np
import pytest
from app_ui import (
    FormTraffic,
    close_output,
    execute,
    field_value,
    open_dataset,
    open_operator,
    open_operator_browser,
    open_panel,
    set_field,
)
from PIL import Image, ImageDraw

from fo_annotation_backends.testing.kili_annotator import KiliAnnotator

pytestmark = pytest.mark.browser

PLUGIN = "@fo-annotation-backends/annotation"
OPERATORS = [
    "request_annotations",
    "load_annotations",
    "get_annotation_status",
    "cleanup_annotations",
    "delete_annotation_run",
]
PANEL = "annotation_runs"

# what the forms show (the plugin's labels)
BACKEND = "Backend"
ANNO_KEY = "Annotation key"
LABEL_FIELD = "Label field"
RUN = "Annotation run"
PREVIEW_TEXT = "1 edited, 1 deleted"  # the load form's preview of the merge

CAT_BOX = [0.1, 0.1, 0.3, 0.3]
DOG_BOX = [0.55, 0.5, 0.3, 0.35]
EDITED_CAT_BOX = [0.2, 0.25, 0.4, 0.45]


def _image(folder, index, width=320, height=240):
    """A gradient with a light ellipse where the cat box is and a dark
    rectangle where the dog box is, so that screenshots show the boxes."""
    y, x = np.mgrid[0:height, 0:width]
    pixels = np.stack([x * 255 // width, y * 255 // height, np.full_like(x, 70 + 60 * index)], axis=-1)
    image = Image.fromarray(pixels.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    cx, cy, cw, ch = CAT_BOX
    draw.ellipse([cx * width, cy * height, (cx + cw) * width, (cy + ch) * height], fill=(235, 235, 235))
    dx, dy, dw, dh = DOG_BOX
    draw.rectangle([dx * width, dy * height, (dx + dw) * width, (dy + dh) * height], fill=(30, 30, 30))
    path = os.path.join(folder, "img_%03d.png" % index)
    image.save(path)
    return path


@pytest.fixture
def app_dataset(tmp_path):
    """A persistent dataset (the App server is another process) of 3
    generated images with a cat and a dog box each; deleted afterwards."""
    folder = tmp_path / "media"
    folder.mkdir()
    dataset = fo.Dataset("browser-%s" % uuid.uuid4().hex[:10], persistent=True)
    samples = []
    for i in range(3):
        boxes = [fol.Detection(label="cat", bounding_box=CAT_BOX), fol.Detection(label="dog", bounding_box=DOG_BOX)]
        samples.append(fo.Sample(filepath=_image(str(folder), i), ground_truth=fol.Detections(detections=boxes)))
    dataset.add_samples(samples)
    try:
        yield dataset
    finally:
        dataset.delete()


@pytest.fixture
def kili_here(kili_emulator):
    """Our Kili backend registered in this process too (to read the run's
    results: project and asset ids), for the test's duration."""
    entry = {
        "config_cls": "fo_annotation_backends.kili.KiliBackendConfig",
        "url": kili_emulator.url,
        "api_key": kili_emulator.api_key,
    }
    saved = fo.annotation_config.backends.get("kili")
    fo.annotation_config.backends["kili"] = entry
    try:
        yield "kili"
    finally:
        if saved is None:
            fo.annotation_config.backends.pop("kili", None)
        else:
            fo.annotation_config.backends["kili"] = saved


def _boxes(sample):
    return {d.id: d for d in (sample.ground_truth.detections if sample.ground_truth else [])}


def _rectangle(x0, y0, x1, y1):
    """A rectangle's ``boundingPoly`` in Kili's vertex order."""
    vertices = [{"x": x0, "y": y1}, {"x": x0, "y": y0}, {"x": x1, "y": y0}, {"x": x1, "y": y1}]
    return [{"normalizedVertices": vertices}]


class Steps:
    """Screenshots named by step, and how long each step took."""

    def __init__(self, page, folder):
        self.page = page
        self.folder = folder
        self.count = 0
        self.start = self.last = time.monotonic()
        self.timings = []

    def path(self, name):
        self.count += 1
        return os.path.join(self.folder, "%02d-%s.png" % (self.count, name))

    def shot(self, name, locator=None):
        (locator or self.page).screenshot(path=self.path(name))

    def done(self, what):
        now = time.monotonic()
        self.timings.append("%6.1f s  %s" % (now - self.last, what))
        self.last = now
        with open(os.path.join(self.folder, "timings.txt"), "w") as f:
            f.write("\n".join(self.timings + ["%6.1f s  in all" % (now - self.start)]) + "\n")


def test_request_annotate_and_load_in_the_app(app_server, page, app_dataset, kili_here, kili_emulator, artifacts):
    dataset = app_dataset
    anno_key = "browser_run"
    steps = Steps(page, artifacts)
    samples = list(dataset.sort_by("filepath"))
    before = {s.id: _boxes(s) for s in samples}
    cat_id, dog_id = [d.id for d in samples[0].ground_truth.detections]

    # the plugin is found and its operators and panel registered, as the App asks for them
    listed = app_server.list_operators(dataset.name)
    uris = {op["uri"] for op in listed["operators"]}
    missing = ["%s/%s" % (PLUGIN, name) for name in OPERATORS + [PANEL] if "%s/%s" % (PLUGIN, name) not in uris]
    assert not missing, "not registered by the App server: %s\nplugin errors: %s\nserver log:\n%s" % (
        missing,
        listed.get("errors"),
        app_server.log_tail(),
    )
    steps.done("App server and plugin discovery")

    traffic = FormTraffic(page)
    open_dataset(page, app_server.dataset_url(dataset.name))
    steps.shot("grid-before")
    steps.done("dataset page")

    # the operator browser lists our operators
    browser = open_operator_browser(page, "annotation")
    for name in OPERATORS:
        browser.get_by_text(name, exact=True).wait_for()
    steps.shot("operator-browser")
    page.keyboard.press("Escape")
    browser.wait_for(state="hidden")

    # request annotations: backend kili, the existing field ground_truth, a run key
    modal = open_operator(page, "request annotations", "request_annotations", traffic=traffic)
    set_field(page, modal, BACKEND, "kili", traffic=traffic)
    set_field(page, modal, ANNO_KEY, anno_key, traffic=traffic)
    set_field(page, modal, LABEL_FIELD, "ground_truth", traffic=traffic)
    assert field_value(modal, BACKEND) == "kili"
    assert field_value(modal, ANNO_KEY) == anno_key
    assert field_value(modal, LABEL_FIELD) == "ground_truth"
    steps.shot("request-form")
    answer = execute(page, modal, "%s/request_annotations" % PLUGIN)
    _assert_succeeded(answer, "request_annotations", app_server)
    output = close_output(page, modal, screenshot=steps.path("request-output"))
    assert output is None or anno_key in output
    steps.done("request annotations (form, upload to the emulator)")

    dataset.reload()
    assert anno_key in dataset.list_annotation_runs()
    results = dataset.load_annotation_results(anno_key)
    assert set(results.asset_ids) == {s.id for s in samples}

    # a person in Kili: moves the cat box of the first image and deletes its dog box
    annotator = KiliAnnotator(kili_emulator.url, kili_emulator.api_key)
    project = results.project_id
    job = results.interface_mapping["jobs"]["ground_truth"]
    asset = results.asset_ids[samples[0].id]
    response = annotator.prefilled(project, asset)
    annotations = response[job]["annotations"]
    assert {a["mid"] for a in annotations} == {cat_id, dog_id}
    cat = next(a for a in annotations if a["mid"] == cat_id)
    x, y, w, h = EDITED_CAT_BOX
    cat["boundingPoly"] = _rectangle(x, y, x + w, y + h)
    response[job]["annotations"] = [cat]
    annotator.submit(project, asset, response, author="alice@example.com")
    steps.done("annotator (Kili GraphQL)")

    # the run's status, from the service
    modal = open_operator(page, "status", "get_annotation_status", traffic=traffic)
    set_field(page, modal, RUN, anno_key, traffic=traffic)
    answer = execute(page, modal, "%s/get_annotation_status" % PLUGIN)
    _assert_succeeded(answer, "get_annotation_status", app_server)
    output = close_output(page, modal, screenshot=steps.path("status-output"))
    assert output is None or anno_key in output
    steps.done("annotation run status")

    # load annotations (the browser opened with the backtick key), after the
    # form's preview of the merge
    modal = open_operator(page, "load annotations", "load_annotations", keyboard=True, traffic=traffic)
    set_field(page, modal, RUN, anno_key, traffic=traffic)
    assert field_value(modal, RUN) == anno_key
    modal.get_by_text(PREVIEW_TEXT).wait_for()
    steps.shot("load-form")
    answer = execute(page, modal, "%s/load_annotations" % PLUGIN)
    _assert_succeeded(answer, "load_annotations", app_server)
    close_output(page, modal, screenshot=steps.path("load-output"))
    steps.done("load annotations")

    # the dataset changed: the cat moved, the dog is gone, nothing else changed
    dataset.reload()
    after = {s.id: _boxes(s) for s in dataset.sort_by("filepath")}
    assert set(after[samples[0].id]) == {cat_id}
    edited = after[samples[0].id][cat_id]
    assert edited.label == "cat"
    assert edited.bounding_box == pytest.approx(EDITED_CAT_BOX)
    for sample in samples[1:]:
        assert set(after[sample.id]) == set(before[sample.id])
        for label_id, label in before[sample.id].items():
            assert after[sample.id][label_id].label == label.label
            assert after[sample.id][label_id].bounding_box == pytest.approx(label.bounding_box)
    page.wait_for_timeout(1000)  # the App reloads the grid after the load (only for the picture)
    steps.shot("grid-after")

    # the annotation_runs panel lists the run; its progress button asks the
    # service and shows the answer in the panel
    open_panel(page, PANEL)
    page.get_by_text(anno_key, exact=True).first.wait_for()
    progress_button = page.get_by_role("button", name=re.compile("progress", re.I))
    progress_button.first.wait_for()
    # the innermost block with the run and its button
    panel = page.locator("div").filter(has=page.get_by_text(anno_key, exact=True)).filter(has=progress_button).last
    steps.shot("annotation-runs-panel")
    shown = panel.inner_text()
    panel.get_by_role("button", name=re.compile("progress", re.I)).first.click()
    _wait_until(page, lambda: panel.inner_text() != shown, "the panel showed no progress after its button")
    steps.shot("annotation-runs-panel-progress")
    steps.done("annotation_runs panel")


def _wait_until(page, condition, what, timeout=30):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(what)
        page.wait_for_timeout(100)


def _assert_succeeded(answer, operator, app_server):
    assert not answer.get("error"), "%s failed: %s\n%s\nApp server log:\n%s" % (
        operator,
        answer.get("error"),
        answer.get("error_message"),
        app_server.log_tail(),
    )
    assert not answer.get("delegated"), "%s was scheduled, not executed" % operator
