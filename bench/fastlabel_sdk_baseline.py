"""The baseline of ``bench_fastlabel.py``: what a user would write by hand with
the official FastLabel SDK (``fastlabel`` 0.26.0) to do the same work as our
backend's ``annotate()`` / ``load_annotations()`` / ``cleanup()``. It is NOT
a FiftyOne backend: it starts from file paths and boxes already in memory
and ends with the boxes of each image, with no FiftyOne merge.

The SDK neither paces nor retries: every call is one ``requests.get/post``
(a new connection each), and an HTTP 429 is raised as
``FastLabelInvalidException``. Two ways a user would loop:

- ``plain``: as fast as the SDK goes, one ``create_image_task`` after the
  other; a failed call is recorded (position, status, message) and the loop
  goes on, so that the report can say both how far a loop that stops at the
  first error would get and how many calls of the whole list fail;
- ``sleep``: the same loop with a naive fixed ``time.sleep(window /
  max_calls)`` before every call but the first of a phase, which keeps it
  under the limit whatever the latency.

Runs in the SDK's own virtual environment (``.cache/fastlabel-sdk-venv``),
one fresh process per round, started by ``bench_fastlabel.py``::

    FASTLABEL_API_URL=... FASTLABEL_ACCESS_TOKEN=... \\
        .cache/fastlabel-sdk-venv/bin/python bench/fastlabel_sdk_baseline.py SPEC.json OUT.json

Phases (each timed, its HTTP requests counted and timed by wrapping
``requests.Session.send``, its peak RSS sampled every 20 ms, and the
emulator's own per-operation counts read around it):

- ``import``: ``import fastlabel`` (informational);
- ``upload``: ``fastlabel.Client()``, ``create_project`` (``image_bbox``),
  ``create_annotation`` per class, ``create_image_task`` per image with its
  boxes in pixels;
- ``sleep`` only: a pause (the parent plays the annotator; untimed,
  uncounted), then ``download``: ``get_image_tasks`` paged by offset, 1000 a
  page, until an empty page, the completed tasks' boxes converted back to
  normalised ``[x, y, w, h]``;
- ``sleep`` only: ``cleanup``: ``delete_project`` (the plain loop leaves the
  budget spent: its project is deleted untimed, after resetting the
  emulator's budget window).
"""

import json
import os
import re
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from bench_common import CallTimeline, EmulatorControl, Meter, max_rss_mb, pause_for_parent, stats_delta  # noqa: E402

_ID_SEGMENT = re.compile(r"/(?:[0-9a-fA-F]{8}-[0-9a-fA-F-]{27,}|\d+)(?=/|$)")


def fastlabel_path_key(path):
    """``/v1/tasks/image/<uuid>`` -> ``/v1/tasks/image/{id}``."""
    return _ID_SEGMENT.sub("/{id}", path)


# --- what the user writes by hand ---------------------------------------------


class Loop:
    """Runs the user's calls one after the other: in ``sleep`` mode with a
    fixed sleep before every call but the first of a phase; records every
    failed call of the task loop."""

    def __init__(self, mode, sleep_seconds):
        self.mode = mode
        self.sleep_seconds = sleep_seconds
        self.first_of_phase = True
        self.slept = 0.0

    def new_phase(self):
        self.first_of_phase = True

    def __call__(self, function, *args, **kwargs):
        if self.mode == "sleep" and not self.first_of_phase:
            time.sleep(self.sleep_seconds)
            self.slept += self.sleep_seconds
        self.first_of_phase = False
        return function(*args, **kwargs)


def box_to_points(box, width, height):
    """A FiftyOne box ``[x, y, w, h]`` (normalised) as FastLabel's
    ``[x1, y1, x2, y2]`` in pixels."""
    x, y, w, h = box
    return [x * width, y * height, (x + w) * width, (y + h) * height]


def upload(client, loop, spec, inputs, out):
    from fastlabel.exceptions import FastLabelException

    slug = spec["slug"]
    project_id = loop(client.create_project, type="image_bbox", name=spec["name"], slug=slug)
    out["project_id"] = project_id
    for name in inputs["classes"]:
        loop(client.create_annotation, project=slug, type="bbox", value=name, title=name)
    task_ids = {}
    failures = []
    for position, item in enumerate(inputs["items"]):
        annotations = [
            {"type": "bbox", "value": label, "points": box_to_points(box, item["width"], item["height"])}
            for label, box in item["boxes"]
        ]
        try:
            task_id = loop(
                client.create_image_task,
                project=slug,
                name=item["name"],
                file_path=item["path"],
                annotations=annotations,
            )
        except FastLabelException as e:
            failures.append([position, item["index"], getattr(e, "code", None), str(getattr(e, "message", e))[:160]])
            continue
        task_ids[task_id] = item["index"]
    out["tasks_created"] = len(task_ids)
    out["tasks_failed"] = len(failures)
    out["first_failure_position"] = failures[0][0] if failures else None
    out["failures_sample"] = failures[:5]
    out["failure_codes"] = {}
    for failure in failures:
        key = str(failure[2])
        out["failure_codes"][key] = out["failure_codes"].get(key, 0) + 1
    return project_id, task_ids


def download(client, loop, spec, index_of):
    """``{image index: sorted [(label, [x, y, w, h] rounded)]}`` of the
    completed tasks, and how many tasks were read."""
    everything, offset = [], None
    while True:
        page = loop(client.get_image_tasks, project=spec["slug"], offset=offset, limit=1000)
        everything.extend(page)
        if not page:
            break
        offset = len(everything)
    summary = {}
    for task in everything:
        if task.get("status") != "completed" or task.get("name") not in index_of:
            continue
        width, height = float(task["width"]), float(task["height"])
        boxes = []
        for a in task.get("annotations") or []:
            if a.get("type") != "bbox":
                continue
            x1, y1, x2, y2 = (float(v) for v in a["points"])
            boxes.append(
                [a["value"], [round(v, 4) for v in (x1 / width, y1 / height, (x2 - x1) / width, (y2 - y1) / height)]]
            )
        summary[str(index_of[task["name"]])] = sorted(boxes)
    return summary, len(everything)


# --- the measured run ---------------------------------------------------------


def run(spec, out):
    meter = Meter(path_key=fastlabel_path_key)
    timeline = CallTimeline(path_key=fastlabel_path_key).install()
    out.update(phases=meter.phases, server={}, mode=spec["mode"])
    emulator = EmulatorControl(spec["url"], spec["api_key"])
    with open(spec["inputs"]) as f:
        inputs = json.load(f)  # the paths and boxes, in memory before anything is timed
    loop = Loop(spec["mode"], spec.get("sleep_seconds") or 0.0)
    client = None
    project_id = None
    try:

        def measure(phase, func):
            before = emulator.stats()
            loop.new_phase()
            timeline.start(phase)
            try:
                return meter.measure(phase, func)
            finally:
                timeline.stop()
                out["server"][phase] = stats_delta(before, emulator.stats())
                out["timeline"] = timeline.as_dict()

        import importlib

        fastlabel = measure("import", lambda: importlib.import_module("fastlabel"))
        client = fastlabel.Client()  # FASTLABEL_ACCESS_TOKEN and FASTLABEL_API_URL; no request
        emulator.reset_stats()  # a fresh budget window for the round
        project_id, task_ids = measure("upload", lambda: upload(client, loop, spec, inputs, out))
        out["assets"] = len(task_ids)
        out["slept_seconds"] = loop.slept

        if spec["mode"] == "sleep":
            index_of = {item["name"]: item["index"] for item in inputs["items"]}
            out["annotator"] = pause_for_parent({"project_id": project_id, "tasks": task_ids})
            summary, found = measure("download", lambda: download(client, loop, spec, index_of))
            out["tasks_downloaded"] = found
            out["summary"] = summary
            out["labels_after_load"] = sum(len(v) for v in summary.values())
            out["slept_seconds"] = loop.slept
            measure("cleanup", lambda: loop(client.delete_project, project_id))
            project_id = None
    finally:
        meter.stop()
        out["timeline"] = timeline.as_dict()
        if project_id is not None and client is not None:
            # the plain loop (or a failed round) leaves the budget spent:
            # clean up untimed, with a fresh budget window
            try:
                emulator.reset_stats()
                client.delete_project(project_id)
            except Exception:
                pass


def main(spec_path, out_path):
    with open(spec_path) as f:
        spec = json.load(f)
    out = {"started": time.time()}
    try:
        run(spec, out)
    except BaseException as e:
        out["error"] = "%s: %s" % (type(e).__name__, e)
        out["traceback"] = traceback.format_exc()
    out["ru_maxrss_mb"] = max_rss_mb()
    try:
        from importlib import metadata

        out["fastlabel_version"] = metadata.version("fastlabel")
    except Exception:
        out["fastlabel_version"] = "?"
    with open(out_path, "w") as f:
        json.dump(out, f, indent=1)
    return 1 if "error" in out else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
