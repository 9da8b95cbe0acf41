"""The checks of a VIDEO project's label: a jsonResponse keyed by 0-based
frame index strings, each frame holding the jobs of the jsonInterface.

Refused (reason ``invalidJsonResponse``): a key that is not a frame index
(or is beyond the asset's ``numberOfFrames``), a job not in the interface,
``ANNOTATION_JOB_COUNTER``/``ANNOTATION_NAMES_JOB`` outside frame ``"0"``, a
non-boolean ``isKeyFrame`` (required on every object annotation), a category
not of its job, a track (``mid``) seen twice in a frame or changing job, tool
or category between frames, and ``boundingPoly`` vertices outside [0, 1].
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .rules import KiliError
from .video import FRAME_ZERO_KEYS, NON_JOB_KEYS

REASON = "invalidJsonResponse"


def _refuse(index: int, where: str, message: str) -> KiliError:
    return KiliError("jsonResponse of label %d, %s: %s" % (index, where, message), REASON)


def frame_count(asset: Mapping[str, Any]) -> int | None:
    """The asset's ``processingParameters.numberOfFrames``, when known."""
    try:
        count = json.loads(asset.get("jsonMetadata") or "{}")["processingParameters"]["numberOfFrames"]
    except (ValueError, KeyError, TypeError):
        return None
    return count if isinstance(count, int) and not isinstance(count, bool) and count > 0 else None


def check_video_response(
    project: Mapping[str, Any], asset: Mapping[str, Any], response: Mapping[str, Any], index: int
) -> None:
    """Refuses a frame-keyed jsonResponse that Kili would not take."""
    jobs = json.loads(project["jsonInterface"]).get("jobs", {})
    frames = frame_count(asset)
    tracks: dict[str, tuple[str, str, tuple[str, ...]]] = {}
    for key, frame in response.items():
        if key == "assetLevel":
            if not isinstance(frame, dict):
                raise _refuse(index, "assetLevel", "must be an object of jobs")
            _check_jobs(jobs, frame, index, "assetLevel", tracks)
            continue
        if not key.isdigit() or str(int(key)) != key:
            raise _refuse(index, "key %r" % key, "a video's jsonResponse is keyed by 0-based frame indexes")
        if frames is not None and int(key) >= frames:
            raise _refuse(index, "frame %s" % key, "the video has %d frames (0..%d)" % (frames, frames - 1))
        if not isinstance(frame, dict):
            raise _refuse(index, "frame %s" % key, "must be an object of jobs")
        for special in FRAME_ZERO_KEYS & frame.keys():
            if key != "0":
                raise _refuse(index, "frame %s" % key, '%s is only accepted on frame "0"' % special)
            _check_special(special, frame[special], index)
        answers = {k: v for k, v in frame.items() if k not in FRAME_ZERO_KEYS}
        _check_jobs(jobs, answers, index, "frame %s" % key, tracks)


def _check_special(name: str, value: Any, index: int) -> None:
    where = 'frame "0" %s' % name
    if not isinstance(value, dict):
        raise _refuse(index, where, "must be an object")
    for key, inner in value.items():
        if name == "ANNOTATION_NAMES_JOB":
            if not isinstance(inner, str):
                raise _refuse(index, where, "the name of %r must be a string" % key)
        elif not isinstance(inner, dict) or not all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in inner.values()
        ):
            raise _refuse(index, where, "%r must map categories to counts" % key)


def _check_jobs(
    jobs: Mapping[str, Any],
    answers: Mapping[str, Any],
    index: int,
    where: str,
    tracks: dict[str, tuple[str, str, tuple[str, ...]]],
) -> None:
    for name, answer in answers.items():
        if name in NON_JOB_KEYS:
            continue
        job = jobs.get(name)
        if job is None:
            raise _refuse(index, where, "job %r is not in the project's jsonInterface" % name)
        if not isinstance(answer, dict):
            raise _refuse(index, where, "the answer of job %s must be an object" % name)
        here = "%s job %s" % (where, name)
        if "isKeyFrame" in answer and not isinstance(answer["isKeyFrame"], bool):
            raise _refuse(index, here, "isKeyFrame must be a boolean")
        categories = (job.get("content") or {}).get("categories") or {}
        if "categories" in answer:
            _check_categories(answer["categories"], categories, index, here)
        annotations = answer.get("annotations")
        if annotations is None:
            continue
        if not isinstance(annotations, list):
            raise _refuse(index, here, "annotations must be a list")
        seen: set[str] = set()
        for annotation in annotations:
            _check_annotation(jobs, name, annotation, categories, index, here, tracks, seen)


def _check_categories(given: Any, categories: Mapping[str, Any], index: int, where: str) -> tuple[str, ...]:
    if not isinstance(given, list) or not all(isinstance(c, dict) for c in given):
        raise _refuse(index, where, "categories must be a list of {name}")
    names = tuple(str(c.get("name")) for c in given)
    for category_name in names:
        if categories and category_name not in categories:
            raise _refuse(index, where, "category %r is not one of %s" % (category_name, sorted(categories)))
    return names


def _check_annotation(
    jobs: Mapping[str, Any],
    job_name: str,
    annotation: Any,
    categories: Mapping[str, Any],
    index: int,
    where: str,
    tracks: dict[str, tuple[str, str, tuple[str, ...]]],
    seen: set[str],
) -> None:
    if not isinstance(annotation, dict):
        raise _refuse(index, where, "an annotation must be an object")
    mid = annotation.get("mid")
    if not isinstance(mid, str) or not mid:
        raise _refuse(index, where, "an annotation needs a non-empty mid (its track id)")
    here = "%s mid %s" % (where, mid)
    if mid in seen:
        raise _refuse(index, here, "a track appears at most once per frame")
    seen.add(mid)
    if not isinstance(annotation.get("isKeyFrame"), bool):
        raise _refuse(index, here, "isKeyFrame must be a boolean")
    names = _check_categories(annotation.get("categories", []), categories, index, here)
    if len(names) != 1:
        raise _refuse(index, here, "an object annotation has one category, not %d" % len(names))
    track = (job_name, str(annotation.get("type")), names)
    known = tracks.setdefault(mid, track)
    if known != track:
        raise _refuse(
            index, here, "a track keeps its job, type and category on every frame: %s, then %s" % (known, track)
        )
    polys = annotation.get("boundingPoly")
    if polys is not None:
        _check_polys(polys, annotation.get("type"), index, here)
    children = annotation.get("children")
    if children:
        if not isinstance(children, dict):
            raise _refuse(index, here, "children must be an object of jobs")
        _check_jobs(jobs, children, index, here + " children", tracks)


def _check_polys(polys: Any, tool: Any, index: int, where: str) -> None:
    if not isinstance(polys, list) or not polys:
        raise _refuse(index, where, "boundingPoly must be a non-empty list")
    for poly in polys:
        vertices = poly.get("normalizedVertices") if isinstance(poly, dict) else None
        if not isinstance(vertices, list):
            raise _refuse(index, where, "each boundingPoly needs normalizedVertices")
        if tool == "rectangle" and len(vertices) != 4:
            raise _refuse(index, where, "a rectangle has 4 vertices, not %d" % len(vertices))
        if tool == "polygon" and len(vertices) < 3:
            raise _refuse(index, where, "a polygon has at least 3 vertices")
        for vertex in vertices:
            if not isinstance(vertex, dict):
                raise _refuse(index, where, "a vertex is {x, y}")
            for axis in ("x", "y"):
                value = vertex.get(axis)
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                    raise _refuse(index, where, "normalized vertex %s=%r is not in [0, 1]" % (axis, value))


__all__ = ["check_video_response", "frame_count"]
