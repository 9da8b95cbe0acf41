"""GraphQL resolvers of the Kili emulator's native video imports
(``appendManyAssetsAsynchronously``, ``notifications``,
``countNotifications``); see :mod:`.video`."""

from __future__ import annotations

import json
import posixpath
import urllib.request
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .rules import Record, paginate
from .video import VIDEO_EXTENSIONS, probe_video_bytes, processing_parameters

if TYPE_CHECKING:
    from .resolvers import Info

#: how long the emulator waits for a hosted video
REMOTE_VIDEO_TIMEOUT = 10.0
MAX_REMOTE_VIDEO_BYTES = 256 * 1024 * 1024


def _fetch(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=REMOTE_VIDEO_TIMEOUT) as response:
            data: bytes = response.read(MAX_REMOTE_VIDEO_BYTES)
    except Exception:
        return None
    return data


def _suffix(content: str) -> str:
    extension = posixpath.splitext(urlsplit(content).path)[1].lower()
    return extension if extension in VIDEO_EXTENSIONS else ".mp4"


def append_many_assets_asynchronously(
    _: object, info: Info, data: Mapping[str, Any], where: Mapping[str, Any]
) -> Record:
    """Checks the call, decodes the files (without the lock) and answers the
    import's notification."""
    state = info.context.state
    project, prepared = state.prepare_async_import(data, where)
    outcomes: dict[str, str | None] = {}
    files: dict[str, tuple[bytes | None, str]] = {}
    for asset in prepared:
        content_bytes, refusal = state.video_file(asset["content"])
        outcomes[asset["id"]] = refusal
        if refusal is None:
            files[asset["id"]] = (content_bytes, asset["content"])
    probes: dict[str, dict[str, Any] | None] = {}
    with state.unlocked():
        for asset_id, (content_bytes, content) in files.items():
            if content_bytes is None:
                if not (info.context.resolve_remote_media and content.lower().startswith(("http://", "https://"))):
                    probes[asset_id] = {}  # hosted and not fetched: taken as it is
                    continue
                content_bytes = _fetch(content)
            probes[asset_id] = None if content_bytes is None else probe_video_bytes(content_bytes, _suffix(content))
    for asset in prepared:
        if outcomes[asset["id"]] is not None:
            continue
        probe = probes[asset["id"]]
        if probe is None:
            outcomes[asset["id"]] = "the file is not a decodable video"
        elif probe:
            metadata = json.loads(asset["jsonMetadata"])
            metadata["processingParameters"] = processing_parameters(metadata.get("processingParameters") or {}, probe)
            asset["jsonMetadata"] = json.dumps(metadata)
            asset["_resolution"] = {"width": probe["width"], "height": probe["height"]}
    return state.start_import(project, prepared, outcomes)


def notifications(_: object, info: Info, where: Mapping[str, Any], first: int, skip: int) -> list[Record]:
    """A read of notifications: pending imports come closer to their end."""
    found = info.context.state.filter_notifications(where, read=True)
    return paginate(found, first, skip, info.context.max_page_size)


def count_notifications(_: object, info: Info, where: Mapping[str, Any]) -> int:
    return len(info.context.state.filter_notifications(where))


__all__ = ["append_many_assets_asynchronously", "count_notifications", "notifications"]
