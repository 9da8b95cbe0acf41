"""A simulated human annotator that works through Label Studio's REST API,
as a person in Label Studio's editor would: it opens a task, starts from the
pre-annotations shown to it, edits, and submits (or skips)."""

from __future__ import annotations

import copy
import random
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import requests

from . import DemoServer


class LabelStudioAnnotator:
    """Submits annotations as one Label Studio user.

    Args:
        url: the server URL
        token: that user's legacy token
    """

    def __init__(self, url: str, token: str) -> None:
        self.url = url.rstrip("/")
        self.session = requests.Session()
        self.session.headers["Authorization"] = "Token %s" % token

    def task(self, task_id: int) -> dict[str, Any]:
        """The task, with its predictions' results."""
        response = self.session.get("%s/api/tasks/%d" % (self.url, task_id), timeout=60)
        response.raise_for_status()
        return response.json()

    def whoami(self) -> dict[str, Any]:
        """The annotator's user (``id``, ``email``, ...)."""
        response = self.session.get("%s/api/current-user/whoami" % self.url, timeout=60)
        response.raise_for_status()
        return response.json()

    def working_result(self, task_id: int) -> list[dict[str, Any]]:
        """A copy of what the editor shows when the task is opened: the
        latest submitted annotation's result, else the pre-filled
        prediction's (see :meth:`prefilled_result`)."""
        task = self.task(task_id)
        submitted = [a for a in task.get("annotations") or [] if not a.get("was_cancelled")]
        if submitted:
            latest = max(submitted, key=lambda a: (a.get("updated_at") or "", a.get("id") or 0))
            return copy.deepcopy(latest.get("result") or [])
        predictions = task.get("predictions") or []
        return copy.deepcopy(predictions[-1].get("result") or []) if predictions else []

    def prefilled_result(self, task_id: int) -> list[dict[str, Any]]:
        """A copy of the result the editor would show pre-filled (the latest
        prediction's), to be edited and submitted."""
        predictions = self.task(task_id).get("predictions") or []
        if not predictions:
            return []
        return copy.deepcopy(predictions[-1].get("result") or [])

    def submit(self, task_id: int, result: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Submits an annotation with the given result items."""
        response = self.session.post(
            "%s/api/tasks/%d/annotations/" % (self.url, task_id),
            json={"result": result, "was_cancelled": False, "lead_time": 1.0},
            timeout=60,
        )
        response.raise_for_status()
        return response.json()

    def save_draft(self, task_id: int, result: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Saves a draft (work in progress the editor keeps, not submitted)."""
        response = self.session.post(
            "%s/api/tasks/%d/drafts" % (self.url, task_id),
            json={"result": result, "lead_time": 1.0},
            timeout=60,
        )
        response.raise_for_status()
        return response.json()

    def delete_task(self, task_id: int) -> None:
        """Deletes the task from its project (as "Delete tasks" in the UI)."""
        response = self.session.delete("%s/api/tasks/%d/" % (self.url, task_id), timeout=60)
        if response.status_code != 404:
            response.raise_for_status()

    def project_exists(self, project_id: int | str) -> bool:
        """Whether the project is still on the server."""
        response = self.session.get("%s/api/projects/%d/" % (self.url, int(project_id)), timeout=60)
        if response.status_code == 404:
            return False
        response.raise_for_status()
        return True

    def skip(self, task_id: int) -> dict[str, Any]:
        """Skips the task (a cancelled annotation)."""
        response = self.session.post(
            "%s/api/tasks/%d/annotations/" % (self.url, task_id),
            json={"result": [], "was_cancelled": True},
            timeout=60,
        )
        response.raise_for_status()
        return response.json()


class LabelStudioDemoResults(Protocol):
    """What :func:`demo_edits` reads of the demo run's results."""

    @property
    def uploaded_tasks(self) -> Mapping[int, str]: ...


def demo_edits(server: DemoServer, results: LabelStudioDemoResults, classes: Sequence[str], rng: random.Random) -> None:
    """The demo's person (``python -m fo_annotation_backends.demo``): in
    every task of the run, starting from the pre-annotations, moves and
    relabels the first box (every 4th task), deletes the last box (the next),
    adds a box the model missed (the next), and skips one task in eight."""
    annotator = LabelStudioAnnotator(server.url, server.api_key)
    for n, task_id in enumerate(sorted(results.uploaded_tasks)):
        result = annotator.prefilled_result(task_id)
        boxes = [r for r in result if r["type"] == "rectanglelabels"]
        if n % 4 == 0 and boxes:  # move and relabel the first box
            value = boxes[0]["value"]
            value["x"] = min(value["x"] + 5.0, 100.0 - value["width"])
            value["rectanglelabels"] = [classes[(classes.index(value["rectanglelabels"][0]) + 1) % len(classes)]]
        if n % 4 == 1 and boxes:  # delete the last box
            result = [r for r in result if r["id"] != boxes[-1]["id"]]
        if n % 4 == 2:  # add a box the model missed
            result.append(
                {
                    "id": "new%05d" % n,
                    "from_name": "ground_truth",
                    "to_name": "image",
                    "type": "rectanglelabels",
                    "value": {
                        "x": 5.0,
                        "y": 5.0,
                        "width": 20.0,
                        "height": 15.0,
                        "rotation": 0,
                        "rectanglelabels": [rng.choice(classes)],
                    },
                }
            )
        if n % 4 == 3 and n % 8 == 7:
            annotator.skip(task_id)
            continue
        annotator.submit(task_id, result)
