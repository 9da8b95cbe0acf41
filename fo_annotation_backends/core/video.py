"""Video, once for every service: checks before upload, frame numbering and
the frames of a collection.

The model of tracks is in :mod:`~.video_tracks` (FiftyOne labels -> tracks,
for uploads) and :mod:`~.video_download` (service regions -> FiftyOne's
video download shape); files are probed with PyAV in :mod:`~.video_probe`.

Checks (:func:`check_video_samples`), each a :class:`VideoError` before
anything is uploaded, listing every sample at fault:

- the collection mixes media (a grouped dataset, or image files in a video
  collection), or annotates ``frames.`` fields on images;
- a sample-level spatial field on video (FiftyOne keeps video boxes in
  ``frames.<field>``), or any sample-level field when the backend has no
  video sample fields;
- a video without metadata (frame size, rate and count are what every
  service's frames are counted against; the message names the fix), or
  whose metadata contradicts itself (``duration x rate`` more than a frame
  and a half, or 1%, away from the frame count);
- with PyAV (``probe``, on by default when installed; remote files are not
  probed): a file that does not decode, a frame count, size or rate other
  than the metadata's (the frames FiftyOne stores are numbered from the
  metadata, the service numbers the decoded frames: they must be the same
  frames), a **variable frame rate** (decided from the decoded frames'
  timestamps, see :mod:`~.video_probe`: services number frames as ``time x
  rate``), a codec the service refuses (``allowed_codecs``), a non-zero
  start time where the service would shift frames (``allow_start_offset``).

Frame numbering (:class:`FrameNumbering`): FiftyOne numbers frames from 1.
Label Studio from 1 too (``time = frame / fps``, :func:`frame_time`), Kili
keys its ``jsonResponse`` from ``"0"`` (:data:`ZERO_BASED`), FastLabel its
points from ``"1"`` (:data:`ONE_BASED`); each backend names its own
numbering (``FrameNumbering("Kili", 0)``) so that messages name it, as only
the services' subpackages name services. Every conversion is checked against the decoded frame count: a
number outside the video raises :class:`FrameRangeError` instead of moving a
label by a frame, and :func:`check_frame_count` refuses a service whose own
count of the video's frames differs from the decoded one.
"""

from __future__ import annotations

import dataclasses
import math
import mimetypes
import os
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import fiftyone.core.media as fom

from . import compat
from .errors import MediaError, ParameterError
from .media import check_distinct_samples, is_remote
from .video_probe import VideoProbe, probe_video, pyav_available

if TYPE_CHECKING:
    from fiftyone.core.collections import SampleCollection

#: label types FiftyOne requires in ``frames.`` fields on video
SPATIAL_TYPES = frozenset(
    {
        "detection",
        "detections",
        "instance",
        "instances",
        "polyline",
        "polylines",
        "polygon",
        "polygons",
        "keypoint",
        "keypoints",
        "segmentation",
    }
)
FRAMES_PREFIX = "frames."
_MAX_LISTED = 10
_METADATA_FIELDS = ("frame_width", "frame_height", "frame_rate", "total_frame_count")
_METADATA_FIX = (
    "set it before annotating: `samples.compute_metadata()` (needs ffmpeg's ffprobe), or without ffmpeg "
    "`sample.metadata = fo_annotation_backends.core.video_probe.video_metadata(sample.filepath)` (needs PyAV: "
    "pip install av)"
)
_CFR_FIX = "re-encode it at a constant rate first, e.g. `ffmpeg -i in.mp4 -fps_mode cfr -r 25 out.mp4`"


class VideoError(MediaError):
    """A video (or its labels) cannot be annotated as it is; raised before
    anything is uploaded."""


class FrameRangeError(VideoError):
    """A service's frame number lies outside the video's decoded frames."""


# frame numbering -----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class FrameNumbering:
    """How a service numbers the frames of a video.

    Attributes:
        service: the service's name (for messages)
        base: the service's number of the first frame (0 or 1)
    """

    service: str
    base: int

    def to_service(self, frame_number: int, frame_count: int) -> int:
        """The service's number of FiftyOne frame ``frame_number``.

        Raises:
            FrameRangeError: ``frame_number`` is not in ``1..frame_count``
        """
        _check_range(frame_number, frame_count, "FiftyOne frame %s" % frame_number)
        return frame_number - 1 + self.base

    def from_service(self, number: int | str, frame_count: int) -> int:
        """The FiftyOne frame number (1-based) of the service's frame
        ``number`` (an int, or a key string such as Kili's ``"0"``).

        Raises:
            FrameRangeError: not a frame of a video of ``frame_count`` frames
        """
        if isinstance(number, str):
            if not number.strip().isdigit():
                raise FrameRangeError("%s frame key %r is not a frame number" % (self.service, number))
            number = int(number)
        if isinstance(number, bool) or not isinstance(number, int):
            raise FrameRangeError("%s frame %r is not a frame number" % (self.service, number))
        frame_number = number - self.base + 1
        _check_range(frame_number, frame_count, "%s frame %d" % (self.service, number))
        return frame_number

    def key(self, frame_number: int, frame_count: int) -> str:
        """:meth:`to_service` as a string key (Kili's and FastLabel's)."""
        return str(self.to_service(frame_number, frame_count))


#: FiftyOne's own numbering
FIFTYONE = FrameNumbering("FiftyOne", 1)
#: the two numberings services use; a backend names its own for its
#: messages (core names no service): ``FrameNumbering("<service>", 0)``
ONE_BASED = FrameNumbering("the service", 1)
ZERO_BASED = FrameNumbering("the service", 0)


def _check_range(frame_number: int, frame_count: int, what: str) -> None:
    if frame_count < 1:
        raise FrameRangeError("%s: the video's frame count is unknown (%r)" % (what, frame_count))
    if not 1 <= frame_number <= frame_count:
        raise FrameRangeError(
            "%s is outside the video's %d frames (FiftyOne frame %d of 1..%d)"
            % (what, frame_count, frame_number, frame_count)
        )


def frame_time(frame_number: int, frame_rate: float) -> float:
    """The ``time`` (seconds) of 1-based frame ``frame_number`` where a
    service times frames as ``frame / fps`` (Label Studio's docs and SDK:
    frame 1 at ``1 / fps``)."""
    if not frame_rate or frame_rate <= 0:
        raise VideoError("A frame rate is needed to time video frames (got %r)" % frame_rate)
    return frame_number / float(frame_rate)


def frame_at_time(time: float, frame_rate: float, frame_count: int) -> int:
    """The FiftyOne frame number of a service's ``time`` (the inverse of
    :func:`frame_time`: the nearest frame, ``round(time x fps)``), checked
    against ``frame_count``."""
    if not frame_rate or frame_rate <= 0:
        raise VideoError("A frame rate is needed to read frame times (got %r)" % frame_rate)
    frame_number = int(math.floor(float(time) * float(frame_rate) + 0.5))
    _check_range(frame_number, frame_count, "time %ss" % time)
    return frame_number


def check_frame_count(service: str, reported: int | None, decoded: int, what: str = "the video") -> None:
    """Refuses a service's count of a video's frames (Label Studio's
    ``framesCount``, FastLabel's ``frameCount``, the keys of Kili's
    ``jsonResponse``) when it differs from the decoded count: the service
    then numbers other frames than FiftyOne, and every label would drift.
    ``None`` (not reported) passes.

    Raises:
        VideoError: naming both counts
    """
    if reported is None:
        return
    if int(reported) != int(decoded):
        raise VideoError(
            "%s counts %d frames in %s, which decodes to %d (FiftyOne's metadata): its frames cannot be "
            "matched to FiftyOne's without moving labels; re-encode the video at a constant frame rate "
            "(H.264, no B-frame tricks) and annotate it again" % (service, int(reported), what, int(decoded))
        )


# checks --------------------------------------------------------------------


@dataclasses.dataclass
class VideoItem:
    """One sample to check: its id, media path and ``metadata`` (a
    ``VideoMetadata``, a dict of its fields, or ``None``)."""

    sample_id: str
    filepath: str | None
    metadata: Any = None

    def meta(self, name: str) -> Any:
        """A metadata field's value, or ``None``."""
        if self.metadata is None:
            return None
        if isinstance(self.metadata, Mapping):
            return self.metadata.get(name)
        return getattr(self.metadata, name, None)


def is_frame_field(field: str) -> bool:
    """Whether ``field`` is a frame-level field (``frames.<name>``)."""
    return field.startswith(FRAMES_PREFIX)


def check_video_schema(
    media_type: str, label_schema: Mapping[str, Any], supports_video_sample_fields: bool = False
) -> None:
    """Refuses label fields that cannot be annotated on ``media_type``.

    Args:
        media_type: the collection's media type
        label_schema: ``{field: {"type": ...}}`` (FiftyOne's resolved schema)
        supports_video_sample_fields (False): whether the backend annotates
            sample-level fields of videos (classifications, scalars)

    Raises:
        VideoError: listing every field at fault
    """
    problems = []
    for field, info in label_schema.items():
        label_type = (info or {}).get("type")
        if media_type != fom.VIDEO:
            if is_frame_field(field):
                problems.append(
                    "field '%s' is a frame field, but the collection holds %s, not videos: annotate a field "
                    "without the 'frames.' prefix" % (field, media_type or "no media")
                )
        elif not is_frame_field(field):
            if label_type in SPATIAL_TYPES:
                problems.append(
                    "field '%s' (%s) is a sample-level field: spatial labels of a video are kept per frame, "
                    "annotate 'frames.%s' instead" % (field, label_type, field)
                )
            elif not supports_video_sample_fields:
                problems.append(
                    "field '%s' (%s) is a sample-level field of a video, which this backend does not annotate: "
                    "use a frame field ('frames.%s')" % (field, label_type, field)
                )
    if problems:
        raise VideoError("%d label field(s) cannot be annotated:\n  %s" % (len(problems), "\n  ".join(problems)))


def check_video_items(
    items: Sequence[VideoItem],
    probe: bool | None = None,
    allowed_codecs: Collection[str] | None = None,
    allow_start_offset: bool = True,
    service: str = "the service",
) -> dict[str, VideoProbe | None]:
    """Checks every video before anything is uploaded (see the module's
    docstring for the rules).

    Args:
        items: the samples' :class:`VideoItem`
        probe (None): whether to decode local files with PyAV (``None``: when
            PyAV is installed; ``True`` without PyAV is an error)
        allowed_codecs (None): the decoder names the service takes (``h264``),
            ``None``: any
        allow_start_offset (True): whether a first frame later than time 0 is
            accepted
        service ("the service"): the service's name, for messages

    Returns:
        ``{sample_id: VideoProbe}`` (``None`` for files not probed)

    Raises:
        ParameterError: a sample is listed twice, or ``probe=True`` without
            PyAV
        VideoError: listing every video at fault (up to 10, then a count)
    """
    check_distinct_samples([item.sample_id for item in items])
    if probe is None:
        probe = pyav_available()
    elif probe and not pyav_available():
        raise ParameterError("probe=True needs PyAV to decode the videos: pip install av")
    problems: list[str] = []
    probes: dict[str, VideoProbe | None] = {}
    for item in items:
        found = _item_problems(item, bool(probe), allowed_codecs, allow_start_offset, service, probes)
        problems.extend(found)
    if problems:
        listed = "\n  ".join(problems[:_MAX_LISTED])
        more = "\n  ... and %d more" % (len(problems) - _MAX_LISTED) if len(problems) > _MAX_LISTED else ""
        raise VideoError("%d problem(s) with the videos; nothing was uploaded:\n  %s%s" % (len(problems), listed, more))
    return probes


def _item_problems(
    item: VideoItem,
    probe: bool,
    allowed_codecs: Collection[str] | None,
    allow_start_offset: bool,
    service: str,
    probes: dict[str, VideoProbe | None],
) -> list[str]:
    path = item.filepath
    name = "sample %s (%s)" % (item.sample_id, path)
    probes[item.sample_id] = None
    if not path:
        return ["sample %s has no media path" % item.sample_id]
    mime = mimetypes.guess_type(path)[0] or ""
    if mime.startswith("image/"):
        return ["%s is an image, not a video: images and videos cannot be annotated in one run" % name]
    missing = [field for field in _METADATA_FIELDS if not item.meta(field)]
    if missing:
        return ["%s has no video metadata (%s missing): %s" % (name, ", ".join(missing), _METADATA_FIX)]
    count, rate = int(item.meta("total_frame_count")), float(item.meta("frame_rate"))
    problems = []
    duration = item.meta("duration")
    if duration and duration > 0 and abs(duration * rate - count) > max(1.5, 0.01 * count):
        problems.append(
            "%s: its metadata contradicts itself (%d frames, but %.3fs x %.3f fps = %.1f frames): a variable "
            "frame rate, or metadata of another file; recompute it" % (name, count, duration, rate, duration * rate)
        )
    if not probe or is_remote(path) or "://" in path:
        return problems
    if not os.path.isfile(path):
        return problems + ["%s: file not found" % name]
    try:
        found = probe_video(path)
    except MediaError as e:
        return problems + ["%s: %s" % (name, e)]
    probes[item.sample_id] = found
    if found.decoded_frames != count:
        problems.append(
            "%s: the metadata says %d frames but the file decodes to %d: recompute the metadata (FiftyOne's frames "
            "are numbered from it, %s numbers the decoded frames)" % (name, count, found.decoded_frames, service)
        )
    elif not found.frame_counts_agree:
        problems.append(
            "%s: the container declares %d frames but %d decode: re-encode the video"
            % (name, found.container_frames, found.decoded_frames)
        )
    if not found.constant_rate:
        problems.append(
            "%s has a variable frame rate (frames last %.4fs to %.4fs): %s numbers frames as time x rate, so "
            "labels would land on other frames; %s"
            % (name, found.min_frame_duration, found.max_frame_duration, service, _CFR_FIX)
        )
    elif abs(float(found.frame_rate) - rate) > 0.001 * rate:
        problems.append(
            "%s: the metadata's frame rate %.3f is not the file's %.3f: recompute the metadata"
            % (name, rate, float(found.frame_rate))
        )
    width, height = item.meta("frame_width"), item.meta("frame_height")
    if (found.width, found.height) != (int(width), int(height)):
        problems.append(
            "%s: the metadata says %sx%s pixels but the frames are %dx%d: recompute the metadata"
            % (name, width, height, found.width, found.height)
        )
    if allowed_codecs is not None and found.codec not in allowed_codecs:
        problems.append(
            "%s is encoded with %s (%s); %s takes %s only: convert it first, e.g. `ffmpeg -i in -c:v libx264 "
            "-pix_fmt yuv420p out.mp4`" % (name, found.codec, found.fourcc, service, "/".join(sorted(allowed_codecs)))
        )
    if not allow_start_offset and found.start_time > 0:
        problems.append(
            "%s starts at %.3fs, not 0: %s would shift every frame; re-encode it (e.g. ffmpeg's "
            "`-avoid_negative_ts make_zero`)" % (name, found.start_time, service)
        )
    return problems


def check_video_samples(
    samples: SampleCollection,
    label_schema: Mapping[str, Any],
    supports_video_sample_fields: bool = False,
    probe: bool | None = None,
    allowed_codecs: Collection[str] | None = None,
    allow_start_offset: bool = True,
    service: str = "the service",
) -> dict[str, VideoProbe | None]:
    """Checks a collection before a video upload: its media type and label
    fields (:func:`check_video_schema`), then every video
    (:func:`check_video_items`). An image collection passes through the
    schema check only (its ``frames.`` fields are refused).

    Returns:
        ``{sample_id: VideoProbe or None}`` (``{}`` for images)

    Raises:
        VideoError: listing every problem
    """
    media_type = samples.media_type
    if media_type in (fom.GROUP, getattr(fom, "MIXED", "mixed")):
        raise VideoError(
            "The collection mixes media (%s): annotate images and videos in separate runs, e.g. "
            "`view.select_group_slices(media_type='video')`" % media_type
        )
    check_video_schema(media_type, label_schema, supports_video_sample_fields)
    if media_type != fom.VIDEO:
        return {}
    ids, paths, metadata = samples.values(["id", "filepath", "metadata"])
    items = [VideoItem(i, p, m) for i, p, m in zip(ids, paths, metadata)]
    return check_video_items(items, probe, allowed_codecs, allow_start_offset, service)


# keyframes and frames ---------------------------------------------------------


def only_keyframes(label_schema: Mapping[str, Any], field: str) -> bool:
    """Whether FiftyOne asks for keyframes only on ``field`` (its label
    schema's ``only_keyframes``: an existing track field with at least one
    ``keyframe=True`` label, on a backend with ``supports_keyframes``)."""
    return bool((label_schema.get(field) or {}).get("only_keyframes", False))


def keyframe_flags_kept(label_schema: Mapping[str, Any], field: str) -> bool:
    """Whether FiftyOne keeps the ``keyframe`` flags of loaded track labels
    of ``field``: on keyframe-only runs and on new fields; otherwise it
    deletes them (``_update_tracks``)."""
    info = label_schema.get(field) or {}
    return bool(info.get("only_keyframes", False)) or not info.get("existing_field", False)


@dataclasses.dataclass
class SampleFrames:
    """The frames of one video sample.

    Attributes:
        frame_ids: ``{frame_number: frame document id}``
        values: ``{field: {frame_number: value}}`` (frames whose value is
            ``None`` left out)
        frame_count: the metadata's ``total_frame_count`` (0: unknown)
        frame_size: ``(width, height)`` in pixels, or ``None``
        frame_rate: the metadata's frame rate (0: unknown)
    """

    frame_ids: dict[int, str]
    values: dict[str, dict[int, Any]]
    frame_count: int = 0
    frame_size: tuple[int, int] | None = None
    frame_rate: float = 0.0


def load_frames(
    samples: SampleCollection, fields: Iterable[str], sample_ids: Iterable[str] | None = None
) -> dict[str, SampleFrames]:
    """The frames of video samples, with the values of frame ``fields``
    (``frames.<name>``), in one query.

    Frame documents exist only for frames that were ever written:
    ``samples.ensure_frames()`` (at upload, with metadata set) creates one
    per frame, so that every frame a service returns labels for has an id
    to return them under.

    Args:
        samples: a video collection
        fields: frame fields, with their ``frames.`` prefix
        sample_ids (None): the samples to read (``None``: all of
            ``samples``, from its base dataset when ids are given)

    Returns:
        ``{sample_id: SampleFrames}``
    """
    fields = list(fields)
    view = samples if sample_ids is None else compat.base_dataset(samples).select(list(sample_ids))
    present = [f for f in fields if view.has_field(f)]
    paths = ["id", "metadata", "frames.frame_number", "frames.id"] + present
    columns = view.values(paths)
    out: dict[str, SampleFrames] = {}
    for row in zip(*columns):
        sample_id, metadata, numbers, frame_ids = row[:4]
        numbers = numbers or []
        frames = SampleFrames(frame_ids=dict(zip(numbers, frame_ids or [])), values={f: {} for f in fields})
        for field, values in zip(present, row[4:]):
            frames.values[field] = {n: v for n, v in zip(numbers, values or []) if v is not None}
        if metadata is not None:
            frames.frame_count = int(getattr(metadata, "total_frame_count", None) or 0)
            width, height = getattr(metadata, "frame_width", None), getattr(metadata, "frame_height", None)
            frames.frame_size = (int(width), int(height)) if width and height else None
            frames.frame_rate = float(getattr(metadata, "frame_rate", None) or 0.0)
        out[sample_id] = frames
    return out
