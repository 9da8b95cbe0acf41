"""Native video in the Kili emulator: ``appendManyAssetsAsynchronously``,
its ``notifications``, and the frame-keyed labels of VIDEO projects.

An asynchronous import is checked at once (project, arrays, ids, uploads:
refusals are GraphQL errors) and each file is decoded with PyAV (when it is
installed) to learn its frame count, rate and size. The call answers a
notification id; the notification stays ``PENDING`` for
``notification_reads`` reads of ``notifications`` (0: it ends at once), then
the files that decoded become assets and it turns ``SUCCESS``, or
``FAILURE`` when any file was refused (not a video of an allowed extension,
or not decodable): the good files are imported all the same.

A video asset has ``resolution {width height}`` and
``jsonMetadata.processingParameters`` with ``numberOfFrames``,
``framesPlayedPerSecond``, ``shouldKeepNativeFrameRate``,
``shouldUseNativeVideo``, ``codec``, ``startTime`` and ``delayDueToMinPts``.
"""

from __future__ import annotations

import json
import os
import posixpath
import tempfile
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .rules import KiliError, Record, Where, given, new_id

if TYPE_CHECKING:
    from ..emulator_base import Clock

#: the file extensions of a native video
VIDEO_EXTENSIONS = (".mp4", ".mkv", ".3gp", ".avi", ".m4v", ".mov", ".webm")
#: the content types of uploaded native videos (what ``mimetypes`` gives for those extensions)
VIDEO_MIME_TYPES = frozenset(
    {
        "video/mp4",
        "video/x-matroska",
        "video/3gpp",
        "video/x-msvideo",
        "video/avi",
        "video/x-m4v",
        "video/quicktime",
        "video/webm",
    }
)
UPLOAD_TYPES = ("NATIVE_VIDEO", "FRAME_VIDEO")
#: keys of frame "0" that are not jobs of the interface
FRAME_ZERO_KEYS = frozenset({"ANNOTATION_JOB_COUNTER", "ANNOTATION_NAMES_JOB"})
#: jsonResponse keys that are not jobs, on any frame
NON_JOB_KEYS = frozenset({"ROTATION_JOB"})


def probe_video_bytes(data: bytes, suffix: str = ".mp4") -> dict[str, Any] | None:
    """``{frames, fps, width, height, codec, startTime}`` of a video's bytes,
    ``None`` when they do not decode; ``{}`` when PyAV is not installed."""
    from ...core.video_probe import probe_video, pyav_available

    if not pyav_available():
        return {}
    handle, path = tempfile.mkstemp(suffix=suffix)
    try:
        with os.fdopen(handle, "wb") as f:
            f.write(data)
        probe = probe_video(path)
    except Exception:
        return None
    finally:
        os.unlink(path)
    if probe.decoded_frames < 1 or probe.width < 1 or probe.height < 1:
        return None
    return {
        "frames": probe.decoded_frames,
        "fps": float(probe.frame_rate),
        "width": probe.width,
        "height": probe.height,
        "codec": probe.codec,
        "startTime": probe.start_time,
    }


def processing_parameters(given_parameters: Mapping[str, Any], probe: Mapping[str, Any]) -> dict[str, Any]:
    """The ``processingParameters`` Kili stores for a decoded native video: a
    rate asked by the client (``framesPlayedPerSecond``) resamples the frames."""
    parameters = dict(given_parameters)
    native_fps = probe["fps"]
    asked = parameters.get("framesPlayedPerSecond")
    keep = parameters.get("shouldKeepNativeFrameRate", asked is None)
    frames = probe["frames"]
    if not keep and isinstance(asked, (int, float)) and asked > 0 and native_fps > 0:
        frames = max(1, round(frames * asked / native_fps))
    parameters.update(
        shouldUseNativeVideo=True,
        shouldKeepNativeFrameRate=bool(keep),
        framesPlayedPerSecond=native_fps if keep or not asked else asked,
        numberOfFrames=frames,
        codec=probe["codec"],
        startTime=probe["startTime"],
        delayDueToMinPts=0,
    )
    return parameters


class VideoState:
    """Asynchronous imports and their notifications (a mixin of
    :class:`~.state.KiliState`)."""

    #: reads of a notification before its import ends
    notification_reads = 1

    if TYPE_CHECKING:  # what KiliState provides
        clock: Clock
        assets: dict[str, Record]
        storage: dict[str, tuple[bytes, str]]
        projects: dict[str, Record]
        notifications: dict[str, Record]

        def _next_seq(self) -> int: ...
        def project_from_where(self, where: Where) -> Record: ...
        def prepare_assets(self, data: Mapping[str, Any], where: Where) -> tuple[Record, list[Record]]: ...
        def storage_path_of(self, url: object) -> tuple[str, bool] | None: ...
        def add_assets(
            self, project_id: str, prepared: list[Record], resolutions: Mapping[str, dict[str, int] | None]
        ) -> list[Record]: ...

    def prepare_async_import(self, data: Mapping[str, Any], where: Where) -> tuple[Record, list[Record]]:
        """Checks an ``appendManyAssetsAsynchronously`` call; returns the
        project and the assets to create (not yet probed)."""
        upload_type = data.get("uploadType")
        if upload_type not in UPLOAD_TYPES:
            raise KiliError(
                "the emulator imports %s asynchronously, not %r" % (" or ".join(UPLOAD_TYPES), upload_type),
                "unsupportedUploadType",
            )
        if upload_type == "FRAME_VIDEO":
            raise KiliError("the emulator does not cut videos into frames (FRAME_VIDEO)", "unsupportedUploadType")
        project = self.project_from_where(where)
        if project["inputType"] != "VIDEO":
            raise KiliError(
                "NATIVE_VIDEO imports need a VIDEO project; project %s is %s" % (project["id"], project["inputType"]),
                "invalidInputType",
            )
        arrays = {k: v for k, v in data.items() if k not in ("uploadType",)}
        project, prepared = self.prepare_assets(arrays, where)
        pending = {a["id"] for n in self.notifications.values() if n["status"] == "PENDING" for a in n["_assets"]}
        for asset in prepared:
            if asset["id"] in pending:
                raise KiliError("an asset with id %s is already being imported" % asset["id"], "assetIdAlreadyExists")
            if not asset["content"]:
                raise KiliError("asset %s: a native video needs a content" % asset["id"], "emptyContent")
            parameters = json.loads(asset["jsonMetadata"]).get("processingParameters") or {}
            if parameters.get("shouldUseNativeVideo") is False:
                raise KiliError("shouldUseNativeVideo is false in a NATIVE_VIDEO import", "invalidUploadType")
        return project, prepared

    def video_file(self, content: str) -> tuple[bytes | None, str | None]:
        """The bytes stored for a content (``None`` for hosted content) and
        why the file is refused (``None``: its type is acceptable)."""
        stored = self.storage_path_of(content)
        if stored is not None:
            data, content_type = self.storage[stored[0]]
            mime = content_type.split(";")[0].strip().lower()
            if mime not in VIDEO_MIME_TYPES and mime != "application/octet-stream":
                return data, "content type %s is not a video" % mime
            return data, None
        extension = posixpath.splitext(urlsplit(content).path)[1].lower()
        if extension not in VIDEO_EXTENSIONS:
            return None, "extension %r is not one of %s" % (extension, " ".join(VIDEO_EXTENSIONS))
        return None, None

    def start_import(self, project: Record, prepared: list[Record], outcomes: Mapping[str, str | None]) -> Record:
        """Records an import whose files are checked (``outcomes``: asset id
        -> why it is refused, or ``None``); returns its notification."""
        now = self.clock.now()
        failed = {a["id"]: outcomes[a["id"]] for a in prepared if outcomes.get(a["id"])}
        notification = {
            "id": new_id(),
            "status": "PENDING",
            "message": None,
            "createdAt": now,
            "updatedAt": now,
            "_project_id": project["id"],
            "_assets": [a for a in prepared if a["id"] not in failed],
            "_failed": failed,
            "_reads_left": self.notification_reads,
            "_seq": self._next_seq(),
        }
        self.notifications[notification["id"]] = notification
        if self.notification_reads <= 0:
            self._finish_import(notification)
        return notification

    def _finish_import(self, notification: Record) -> None:
        if notification["_project_id"] in self.projects:
            assets = [a for a in notification["_assets"] if a["id"] not in self.assets]
            resolutions = {a["id"]: a.pop("_resolution", None) for a in assets}
            self.add_assets(notification["_project_id"], assets, resolutions)
        failed = notification["_failed"]
        notification["status"] = "FAILURE" if failed else "SUCCESS"
        if failed:
            notification["message"] = "; ".join("asset %s: %s" % item for item in failed.items())
        notification["updatedAt"] = self.clock.now()

    def filter_notifications(self, where: Where, read: bool = False) -> list[Record]:
        """Notifications matching a ``NotificationWhere``; ``read``: this is a
        read that brings pending imports closer to their end."""
        wanted = given(where, "id")
        found = [n for n in self.notifications.values() if wanted is None or n["id"] == wanted]
        status = given(where, "status")
        if status is not None:
            found = [n for n in found if n["status"] == status]
        if read:
            for notification in found:
                if notification["status"] == "PENDING":
                    notification["_reads_left"] -= 1
                    if notification["_reads_left"] <= 0:
                        self._finish_import(notification)
        return sorted(found, key=lambda n: n["_seq"])


__all__ = ["VIDEO_EXTENSIONS", "VideoState", "probe_video_bytes", "processing_parameters"]
