"""The rules the Kili emulator shares between its parts: limits, label
types, errors answered with Kili's ``reason``, ids, timestamps, and the
checks of filters, JSON fields and interfaces."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, Optional, TypeVar

_T = TypeVar("_T")

#: a record of the state (user, API key, project, asset, label): a JSON-like dict
Record = dict[str, Any]
#: a GraphQL ``...Where`` filter; ``None`` (or empty) filters nothing
Where = Optional[Mapping[str, Any]]

MAX_ASSETS_PER_CALL = 100
MAX_LABELS_PER_CALL = 100
MAX_SIGNED_URLS_PER_CALL = 30
MAX_DELETE_PER_CALL = 100

LABEL_TYPES = ("AUTOSAVE", "DEFAULT", "INFERENCE", "PREDICTION", "REVIEW")
#: label types made by people (``isLatestLabelForUser`` is among these)
HUMAN_TYPES = ("AUTOSAVE", "DEFAULT", "REVIEW")
#: label types that count as submitted work (``latestLabel``)
SUBMITTED_TYPES = ("DEFAULT", "REVIEW")
MODEL_TYPES = ("INFERENCE", "PREDICTION")
#: input types whose content is media, given by URL
URL_ONLY_INPUT_TYPES = frozenset({"AUDIO", "GEOSPATIAL", "IMAGE", "PDF", "VIDEO", "VIDEO_LEGACY", "TIME_SERIES", "URL"})
#: input types whose label jsonResponse is keyed by frame, not by job
FRAME_KEYED_INPUT_TYPES = frozenset({"VIDEO", "VIDEO_LEGACY"})
#: jsonResponse keys that are not jobs of the interface
SPECIAL_RESPONSE_KEYS = frozenset({"ROTATION_JOB", "assetLevel"})

SIGNATURE_PARAM = "X-Goog-Signature"
STORAGE_PREFIX = "/storage/"
FAR_EXPIRY = "2099-12-31T23:59:59.000Z"


class KiliError(Exception):
    """An error answered as a GraphQL error, with Kili's ``reason``."""

    def __init__(self, message: str, reason: str = "badRequest") -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason


def new_id() -> str:
    """A cuid-like id (25 lowercase alphanumerics starting with ``c``)."""
    return "c" + uuid.uuid4().hex[:24]


def given(where: Where, key: str) -> Any:
    """A filter value, ``None`` when absent or null."""
    if not where:
        return None
    return where.get(key)


def parse_json(text: Any, what: str, reason: str, kind: type | None = dict) -> Any:
    """A JSON-string field decoded (``None`` when empty); ``KiliError``
    with ``reason`` when it is not JSON of ``kind``."""
    if text is None or text == "":
        return None
    if not isinstance(text, str):
        raise KiliError("%s must be a JSON string" % what, reason)
    try:
        value = json.loads(text)
    except ValueError as e:
        raise KiliError("%s is not valid JSON: %s" % (what, e), reason) from None
    if kind is not None and not isinstance(value, kind):
        raise KiliError("%s must be a JSON %s" % (what, "object" if kind is dict else kind.__name__), reason)
    return value


def in_range(value: Any, low: Any, high: Any) -> bool:
    """Whether ``value`` is within the optional bounds (no value fails any
    bound)."""
    if low is None and high is None:
        return True
    if value is None:
        return False
    return (low is None or value >= low) and (high is None or value <= high)


def check_mark(value: float | None, name: str) -> None:
    """Refuses a consensus/honeypot mark outside [0, 1]."""
    if value is not None and not 0 <= value <= 1:
        raise KiliError("%s must be between 0 and 1, not %r" % (name, value), "invalidMark")


def unsupported(where: Where, keys: Iterable[str], what: str) -> None:
    """Refuses the filters of ``where`` the emulator does not implement."""
    for key in keys:
        value = given(where, key)
        if value not in (None, [], {}, ""):
            raise KiliError("the emulator does not support the %s filter %r" % (what, key), "unsupportedFilter")


def paginate(items: list[_T], first: int | None, skip: int | None, max_page_size: int) -> list[_T]:
    """``items[skip:skip + first]`` after checking both against the limits."""
    if first is None or first < 0:
        raise KiliError("first must be a non-negative integer", "invalidPagination")
    if first > max_page_size:
        raise KiliError("first is %d: a page holds at most %d items" % (first, max_page_size), "pageSizeTooLarge")
    skip = skip or 0
    if skip < 0:
        raise KiliError("skip must be a non-negative integer", "invalidPagination")
    return items[skip : skip + first]


def status_after(status: str, label_type: str) -> str:
    """An asset's status after a label of ``label_type`` (workflow V1)."""
    if label_type == "DEFAULT":
        return "LABELED"
    if label_type == "REVIEW":
        return "REVIEWED"
    if label_type == "AUTOSAVE" and status == "TODO":
        return "ONGOING"
    return status


def check_interface(text: Any) -> dict[str, Any]:
    """The decoded jsonInterface of a project, checked (jobs with an
    ``mlTask``)."""
    interface = parse_json(text, "jsonInterface", "invalidJsonInterface")
    if interface is None:
        raise KiliError("a project needs a jsonInterface", "invalidJsonInterface")
    jobs = interface.get("jobs", {})
    if not isinstance(jobs, dict):
        raise KiliError("jsonInterface.jobs must be an object", "invalidJsonInterface")
    for name, job in jobs.items():
        if not isinstance(job, dict) or not isinstance(job.get("mlTask"), str):
            raise KiliError("job %s of the jsonInterface needs an mlTask" % name, "invalidJsonInterface")
    return interface


def check_response_jobs(project: Mapping[str, Any], response: Mapping[str, Any], index: int) -> None:
    """Refuses a jsonResponse that answers jobs the project does not have."""
    if project["inputType"] in FRAME_KEYED_INPUT_TYPES:
        return
    jobs = json.loads(project["jsonInterface"]).get("jobs", {})
    for key in response:
        if key not in jobs and key not in SPECIAL_RESPONSE_KEYS:
            raise KiliError(
                "jsonResponse of label %d answers job %r, which is not in the project's jsonInterface" % (index, key),
                "invalidJsonResponse",
            )


def metadata_matches(metadata: Mapping[str, Any], where: Mapping[str, Any]) -> bool:
    """Whether ``jsonMetadata`` passes a ``metadata`` filter (values, or
    ``{gte, lte}`` bounds)."""
    for key, wanted in where.items():
        value = metadata.get(key)
        if isinstance(wanted, dict):
            try:
                if "gte" in wanted and not value >= wanted["gte"]:
                    return False
                if "lte" in wanted and not value <= wanted["lte"]:
                    return False
            except TypeError:
                return False
        elif value != wanted:
            return False
    return True


def image_resolution(data: bytes) -> dict[str, int] | None:
    """``{width, height}`` of image bytes, or ``None`` when Pillow cannot
    read them."""
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except Exception:
        return None
    return {"width": int(width), "height": int(height)}


def dates_match(obj: Mapping[str, Any], where: Where) -> bool:
    """Whether ``obj``'s ``createdAt``/``updatedAt`` pass the ``...Gte``/``...Lte`` bounds of ``where``."""
    for field in ("createdAt", "updatedAt"):
        if not in_range(obj[field], given(where, field + "Gte"), given(where, field + "Lte")):
            return False
    return True
