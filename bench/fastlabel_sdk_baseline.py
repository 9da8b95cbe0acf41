"""The baseline of ``bench_fastlabel.py``: what a user would write by hand with
the official FastLabel SDK to do the work of our backend's ``annotate()`` /
``load_annotations()`` / ``cleanup()``. Not a FiftyOne backend: it starts
from file paths and boxes in memory and ends with the boxes of each image,
with no FiftyOne merge.

The SDK neither paces nor retries (one ``requests`` call each, a new
connection each; a 429 is raised as ``FastLabelInvalidException``), so two
loops: ``plain`` (as fast as it goes; a failed call is recorded and the loop
goes on, so the report can say how far a loop that stops at the first error
gets and how many of the whole list fail) and ``sleep`` (a naive fixed
``time.sleep(window / max_calls)`` before every call but the first of a
phase).

Runs in the SDK's own virtual environment, one fresh process per round::

    FASTLABEL_API_URL=... FASTLABEL_ACCESS_TOKEN=... \\
        .cache/fastlabel-sdk-venv/bin/python bench/fastlabel_sdk_baseline.py SPEC.json OUT.json

Phases, each measured by :class:`harness.measure.Meter`: ``import``;
``upload`` (``create_project``, ``create_annotation`` per class,
``create_image_task`` per image with its boxes in pixels); ``sleep`` only: a
pause in which the parent plays the annotator, ``download``
(``get_image_tasks`` paged by offset until an empty page, the completed
tasks' boxes back to normalised boxes) and ``cleanup`` (``delete_project``).
The plain loop's project is deleted untimed, with a fresh budget window.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
from typing import Any, Callable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness.measure import Meter, pause_for_parent, worker_main  # noqa: E402


class Loop:
    """Makes the user's calls one after the other, in ``sleep`` mode with a
    fixed sleep before every call but the first of a phase."""

    def __init__(self, mode: str, sleep_seconds: float) -> None:
        self.mode = mode
        self.sleep_seconds = sleep_seconds
        self.first_of_phase = True
        self.slept = 0.0

    def __call__(self, function: Callable, **kwargs: Any) -> Any:
        if self.mode == "sleep" and not self.first_of_phase:
            time.sleep(self.sleep_seconds)
            self.slept += self.sleep_seconds
        self.first_of_phase = False
        return function(**kwargs)


def upload(client: Any, loop: Loop, spec: dict, items: list[dict], out: dict) -> dict:
    """The project, its classes, one task per image; ``{task id: image index}``."""
    from fastlabel.exceptions import FastLabelException

    slug = spec["slug"]
    out["project_id"] = loop(client.create_project, type="image_bbox", name=spec["name"], slug=slug)
    for name in spec["classes"]:
        loop(client.create_annotation, project=slug, type="bbox", value=name, title=name)
    tasks, failures = {}, []
    for position, item in enumerate(items):
        w, h = item["width"], item["height"]
        annotations = [
            {"type": "bbox", "value": x["label"], "points": [bx * w, by * h, (bx + bw) * w, (by + bh) * h]}
            for x in item["labels"]
            for bx, by, bw, bh in [x["box"]]
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
        tasks[task_id] = item["index"]
    out.update(tasks_created=len(tasks), tasks_failed=len(failures), failures_sample=failures[:5])
    out["first_failure_position"] = failures[0][0] if failures else None
    out["failure_codes"] = {}
    for failure in failures:
        out["failure_codes"][str(failure[2])] = out["failure_codes"].get(str(failure[2]), 0) + 1
    return tasks


def download(client: Any, loop: Loop, spec: dict, index_of: dict) -> tuple[dict, int]:
    """``{image index: sorted [[class, box rounded to 1e-4]]}`` of the
    completed tasks, and how many tasks were read."""
    everything: list = []
    while True:
        page = loop(client.get_image_tasks, project=spec["slug"], offset=len(everything) or None, limit=1000)
        everything.extend(page)
        if not page:
            break
    summary = {}
    for task in everything:
        if task.get("status") != "completed" or task.get("name") not in index_of:
            continue
        w, h = float(task["width"]), float(task["height"])
        boxes = []
        for a in task.get("annotations") or []:
            if a.get("type") == "bbox":
                x1, y1, x2, y2 = (float(p) for p in a["points"])
                boxes.append([a["value"], [round(p, 4) for p in (x1 / w, y1 / h, (x2 - x1) / w, (y2 - y1) / h)]])
        summary[str(index_of[task["name"]])] = sorted(boxes)
    return summary, len(everything)


def run(spec: dict, out: dict) -> None:
    """The measured round."""
    meter = Meter(spec, out)
    with open(spec["items"]) as f:
        items = json.load(f)  # the paths and boxes, in memory before anything is timed
    loop = Loop(spec["mode"], spec.get("sleep_seconds") or 0.0)
    client = None
    out["mode"] = spec["mode"]

    def measure(phase: str, func: Callable) -> Any:
        loop.first_of_phase = True
        return meter.measure(phase, func)

    try:
        fastlabel = measure("import", lambda: importlib.import_module("fastlabel"))
        client = fastlabel.Client()  # FASTLABEL_ACCESS_TOKEN and FASTLABEL_API_URL; no request
        if meter.control is not None:
            meter.control.reset_stats()  # a fresh budget window for the round
        tasks = measure("upload", lambda: upload(client, loop, spec, items, out))
        out.update(items=len(tasks), slept_seconds=loop.slept)
        if spec["mode"] == "sleep":
            out["annotator"] = pause_for_parent({"project_id": out["project_id"], "items": tasks})
            index_of = {item["name"]: item["index"] for item in items}
            out["summary"], out["tasks_downloaded"] = measure(
                "download", lambda: download(client, loop, spec, index_of)
            )
            out["labels_after_load"] = sum(len(b) for b in out["summary"].values())
            out["slept_seconds"] = loop.slept
            measure("cleanup", lambda: loop(client.delete_project, project_id=out["project_id"]))
            out["deleted"] = True
    finally:
        meter.stop()
        if out.get("project_id") is not None and client is not None and not out.get("deleted"):
            # the plain loop (or a failed round) leaves the budget spent: clean up untimed, in a fresh window
            try:
                if meter.control is not None:
                    meter.control.reset_stats()
                client.delete_project(project_id=out["project_id"])
            except Exception:
                pass


if __name__ == "__main__":
    sys.exit(worker_main(run, sys.argv[1], sys.argv[2]))
