"""A simulated human annotator that works through Label Studio's REST API,
as a person in Label Studio's editor would: it opens a task, starts from the
pre-annotations shown to it, edits, and submits (or skips)."""

import copy

import requests


class LabelStudioAnnotator:
    """Submits annotations as one Label Studio user.

    Args:
        url: the server URL
        token: that user's legacy token
    """

    def __init__(self, url, token):
        self.url = url.rstrip("/")
        self.session = requests.Session()
        self.session.headers["Authorization"] = "Token %s" % token

    def task(self, task_id):
        """The task, with its predictions' results."""
        response = self.session.get("%s/api/tasks/%d" % (self.url, task_id), timeout=60)
        response.raise_for_status()
        return response.json()

    def prefilled_result(self, task_id):
        """A copy of the result the editor would show pre-filled (the latest
        prediction's), to be edited and submitted."""
        predictions = self.task(task_id).get("predictions") or []
        if not predictions:
            return []
        return copy.deepcopy(predictions[-1].get("result") or [])

    def submit(self, task_id, result):
        """Submits an annotation with the given result items."""
        response = self.session.post(
            "%s/api/tasks/%d/annotations/" % (self.url, task_id),
            json={"result": result, "was_cancelled": False, "lead_time": 1.0},
            timeout=60,
        )
        response.raise_for_status()
        return response.json()

    def save_draft(self, task_id, result):
        """Saves a draft (work in progress the editor keeps, not submitted)."""
        response = self.session.post(
            "%s/api/tasks/%d/drafts" % (self.url, task_id),
            json={"result": result, "lead_time": 1.0},
            timeout=60,
        )
        response.raise_for_status()
        return response.json()

    def skip(self, task_id):
        """Skips the task (a cancelled annotation)."""
        response = self.session.post(
            "%s/api/tasks/%d/annotations/" % (self.url, task_id),
            json={"result": [], "was_cancelled": True},
            timeout=60,
        )
        response.raise_for_status()
        return response.json()
