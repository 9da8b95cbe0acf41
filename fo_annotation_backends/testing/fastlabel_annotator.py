"""A simulated human annotator for FastLabel-protocol servers.

It works through the same REST API as FastLabel's web editor: it reads a
task, edits its annotations in place (an edited annotation keeps its id,
as in the editor), adds or removes some, and sets the task's status.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import requests

from . import DemoServer


class FastLabelAnnotator:
    """Works on FastLabel tasks as a person in the web editor.

    Args:
        url: the API base URL (ends with ``/v1/``)
        api_key: an access token
    """

    def __init__(self, url: str, api_key: str) -> None:
        self.url = url if url.endswith("/") else url + "/"
        self._session = requests.Session()
        self._session.headers["Authorization"] = "Bearer %s" % api_key

    def __repr__(self) -> str:
        return "FastLabelAnnotator(%r)" % self.url

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        """The decoded JSON answer (``None`` when empty); an error status raises."""
        response = self._session.request(method, self.url + path, timeout=60, **kwargs)
        if response.status_code >= 400:
            raise RuntimeError("%s %s: %d %s" % (method, path, response.status_code, response.text[:300]))
        return response.json() if response.content else None

    def task(self, task_id: str, classification: bool = False) -> dict[str, Any]:
        """A task as the editor loads it (a copy the caller may edit)."""
        path = "tasks/image/classification/%s" if classification else "tasks/image/%s"
        return copy.deepcopy(self._call("GET", path % task_id))

    def submit(
        self,
        task_id: str,
        annotations: Iterable[Mapping[str, Any]] | None = None,
        attributes: Iterable[Mapping[str, Any]] | None = None,
        status: str = "completed",
        classification: bool = False,
    ) -> dict[str, Any]:
        """Saves the task: its annotations (those with an ``id`` keep it) or,
        for classification tasks, its attributes, and its new status."""
        body: dict[str, Any] = {"status": status}
        if classification:
            if attributes is not None:
                body["attributes"] = [{"key": a["key"], "value": a["value"]} for a in attributes]
            return self._call("PUT", "tasks/image/classification/%s" % task_id, json=body)
        if annotations is not None:
            body["annotations"] = [_as_sent(a) for a in annotations]
        return self._call("PUT", "tasks/image/%s" % task_id, json=body)

    def skip(self, task_id: str) -> dict[str, Any]:
        """Skips the task (its status becomes ``skipped``; annotations stay)."""
        return self.set_status(task_id, "skipped")

    def delete_task(self, task_id: str) -> None:
        """Deletes the task (as "Delete" in the task list)."""
        response = self._session.request("DELETE", self.url + "tasks/%s" % task_id, timeout=60)
        if response.status_code not in (200, 204, 404):
            raise RuntimeError("DELETE tasks/%s: %d %s" % (task_id, response.status_code, response.text[:300]))

    def project_exists(self, project_id: str) -> bool:
        """Whether the project (by id) is still on the server."""
        response = self._session.request("GET", self.url + "projects/%s" % project_id, timeout=60)
        if response.status_code == 404:
            return False
        if response.status_code >= 400:
            raise RuntimeError("GET projects/%s: %d %s" % (project_id, response.status_code, response.text[:300]))
        return True

    def set_status(self, task_id: str, status: str) -> dict[str, Any]:
        """Only changes the task's status (e.g. ``reviewed``, ``approved``)."""
        return self._call("PUT", "tasks/%s" % task_id, json={"status": status})


_SENT_KEYS = ("id", "type", "value", "points", "rotation", "keypoints", "attributes")


class FastLabelDemoResults(Protocol):
    """What :func:`demo_edits` reads of the demo run's results."""

    @property
    def task_ids(self) -> Mapping[str, str]: ...

    @property
    def interface_mapping(self) -> Mapping[str, Any]: ...


def _as_sent(annotation: Mapping[str, Any]) -> dict[str, Any]:
    """An annotation as the editor sends it back (no title/color)."""
    out = {k: annotation[k] for k in _SENT_KEYS if k in annotation and annotation[k] is not None}
    if "attributes" in out:
        out["attributes"] = [{"key": a["key"], "value": a["value"]} for a in out["attributes"]]
    if "keypoints" in out:
        out["keypoints"] = [{"key": k["key"], "value": k["value"]} for k in out["keypoints"]]
    return out


def demo_edits(server: DemoServer, results: FastLabelDemoResults, classes: Sequence[str], rng: random.Random) -> None:
    """The demo's people (``python -m fo_annotation_backends.demo --backend
    fastlabel``): the same edits as Label Studio's demo person, in FastLabel's
    editor (edited annotations keep their ids), then a reviewer approving one
    task in three."""
    annotator = FastLabelAnnotator(server.url, server.api_key)
    values = results.interface_mapping["classes"]["ground_truth"]
    class_of_value = {v: k for k, v in values.items()}
    for n, (_sample_id, task_id) in enumerate(sorted(results.task_ids.items())):
        task = annotator.task(task_id)
        boxes = task["annotations"]
        width = task["width"]
        if n % 4 == 0 and boxes:  # move and relabel the first box
            x1, y1, x2, y2 = boxes[0]["points"]
            shift = min(0.05 * width, width - x2)
            boxes[0]["points"] = [x1 + shift, y1, x2 + shift, y2]
            name = class_of_value[boxes[0]["value"]]
            boxes[0]["value"] = values[classes[(classes.index(name) + 1) % len(classes)]]
        if n % 4 == 1 and boxes:  # delete the last box
            boxes.pop()
        if n % 4 == 2:  # add a box the model missed
            boxes.append(
                {"type": "bbox", "value": values[rng.choice(classes)], "points": [16, 12, 80, 48], "attributes": []}
            )
        if n % 4 == 3 and n % 8 == 7:
            continue  # nobody opened this one: it keeps its labels
        annotator.submit(task_id, boxes, status="completed")
        if n % 3 == 0:
            annotator.set_status(task_id, "approved")
