"""Probing video files with PyAV: what a service will count, and FiftyOne
``VideoMetadata`` without ffprobe.

FiftyOne's ``compute_metadata()`` reads video metadata with ffmpeg's
``ffprobe`` (through ``eta``); on a machine without ffmpeg it fails. PyAV
(``pip install av``; its wheels ship FFmpeg's libraries, libx264 included)
reads the same facts from the file itself: :func:`video_metadata` builds the
``VideoMetadata`` FiftyOne would store, with the frame count **decoded**
(every frame is decoded and counted) and checked against the count the
container declares.

PyAV is optional for the package (the ``test`` extra installs it): it is
imported when a probe is made, and :func:`pyav_available` says whether one
can be.

Variable frame rate: a video is constant-rate when every decoded frame
starts one frame duration (``1 / average rate``) after the previous one,
within :data:`RATE_TOLERANCE` of that duration or one tick of the stream's
time base (timestamps are integers in that base, so 30 fps in a 1/12800
base alternates 426 and 427 ticks). Anything else is variable: services that
count frames as ``time x rate`` (Label Studio) would put labels on the wrong
frames.
"""

from __future__ import annotations

import dataclasses
import fractions
import importlib.util
import mimetypes
import os
from typing import TYPE_CHECKING, Any

from .errors import MediaError, ParameterError

if TYPE_CHECKING:
    import fiftyone.core.metadata as fomd

#: the largest relative deviation of a frame's duration from ``1 / rate`` in
#: a constant-rate video
RATE_TOLERANCE = 0.005

_MIME_BY_FORMAT = {"mov,mp4,m4a,3gp,3g2,mj2": "video/mp4", "matroska,webm": "video/webm", "avi": "video/x-msvideo"}


def pyav_available() -> bool:
    """Whether PyAV (``import av``) is installed."""
    return importlib.util.find_spec("av") is not None


def _import_av() -> Any:
    try:
        import av
    except ImportError:
        raise ParameterError(
            "Probing videos needs PyAV: `pip install av` (or `pip install fo-annotation-backends[test]`)"
        ) from None
    return av


@dataclasses.dataclass(frozen=True)
class VideoProbe:
    """What a video file holds, read with PyAV.

    Attributes:
        path: the file
        codec: the decoder's name (``h264``, ``mpeg4``, ...)
        fourcc: the codec tag in the container (``avc1``, ``mp4v``, ...)
        pix_fmt: the pixel format (``yuv420p``, ...)
        width, height: the frame size in pixels
        frame_rate: the average frame rate (frames per second)
        decoded_frames: how many frames decode
        container_frames: how many frames the container declares (0: none)
        duration: the video stream's duration in seconds
        start_time: the first frame's timestamp in seconds
        constant_rate: whether every frame lasts ``1 / frame_rate`` (see the
            module's docstring)
        min_frame_duration, max_frame_duration: the shortest and longest gap
            between two frames' timestamps, in seconds (0 for one frame)
        size_bytes: the file's size
        container: the container format's name (``mov,mp4,m4a,3gp,3g2,mj2``)
    """

    path: str
    codec: str
    fourcc: str
    pix_fmt: str | None
    width: int
    height: int
    frame_rate: fractions.Fraction
    decoded_frames: int
    container_frames: int
    duration: float
    start_time: float
    constant_rate: bool
    min_frame_duration: float
    max_frame_duration: float
    size_bytes: int
    container: str

    @property
    def mime_type(self) -> str:
        """The file's MIME type, from its name, else its container."""
        return mimetypes.guess_type(self.path)[0] or _MIME_BY_FORMAT.get(self.container, "video/unknown")

    @property
    def frame_counts_agree(self) -> bool:
        """Whether the decoded count is the container's (when it has one)."""
        return self.container_frames in (0, self.decoded_frames)


def probe_video(path: str) -> VideoProbe:
    """Decodes every frame of ``path``'s first video stream and reports what
    it holds (see :class:`VideoProbe`).

    Raises:
        ParameterError: PyAV is not installed
        MediaError: the file is missing, has no video stream, or does not
            decode
    """
    av = _import_av()
    if not os.path.isfile(path):
        raise MediaError("%s: file not found" % path)
    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise MediaError("%s: has no video stream" % path)
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            timestamps = []
            count = 0
            width = height = 0
            pix_fmt = None
            for frame in container.decode(stream):
                count += 1
                width, height, pix_fmt = frame.width, frame.height, frame.format.name
                stamp = frame.pts if frame.pts is not None else frame.dts
                if stamp is not None:
                    timestamps.append(int(stamp))
            time_base = stream.time_base or fractions.Fraction(1, 1)
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            rate = fractions.Fraction(rate) if rate else fractions.Fraction(0)
            if stream.duration is not None:
                duration = float(stream.duration * time_base)
            elif container.duration is not None:
                duration = container.duration / 1_000_000
            else:
                duration = count / float(rate) if rate else 0.0
            start = float(min(timestamps) * time_base) if timestamps else 0.0
            constant, shortest, longest = _rate_profile(sorted(timestamps), time_base, rate)
            return VideoProbe(
                path=path,
                codec=stream.codec_context.name,
                fourcc=str(stream.codec_tag or ""),
                pix_fmt=pix_fmt or stream.codec_context.pix_fmt,
                width=int(width or stream.width),
                height=int(height or stream.height),
                frame_rate=rate,
                decoded_frames=count,
                container_frames=int(stream.frames or 0),
                duration=duration,
                start_time=start,
                constant_rate=constant,
                min_frame_duration=shortest,
                max_frame_duration=longest,
                size_bytes=os.path.getsize(path),
                container=str(container.format.name),
            )
    except MediaError:
        raise
    except Exception as e:  # PyAV raises its own FFmpegError subclasses
        raise MediaError("%s: not a decodable video (%s: %s)" % (path, type(e).__name__, e)) from None


def _rate_profile(
    stamps: list[int], time_base: fractions.Fraction, rate: fractions.Fraction
) -> tuple[bool, float, float]:
    """``(constant, shortest, longest)`` frame durations (seconds) of sorted
    timestamps in ``time_base`` units."""
    if len(stamps) < 2:
        return True, 0.0, 0.0
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    shortest, longest = min(gaps), max(gaps)
    seconds = (float(shortest * time_base), float(longest * time_base))
    if not rate or shortest <= 0:
        return False, seconds[0], seconds[1]
    expected = 1 / (rate * time_base)  # one frame, in ticks
    slack = max(1.0, float(expected) * RATE_TOLERANCE)
    constant = all(abs(gap - float(expected)) <= slack for gap in (shortest, longest))
    return constant, seconds[0], seconds[1]


def video_metadata(path: str, probe: VideoProbe | None = None) -> fomd.VideoMetadata:
    """The ``fo.VideoMetadata`` of a local video, computed with PyAV (what
    ``compute_metadata()`` stores, without ffprobe): size, MIME type, frame
    size, average frame rate, the decoded frame count, the stream's
    duration and its codec tag as ``encoding_str``.

    Args:
        path: a local video file
        probe (None): a :func:`probe_video` result of that file, to reuse

    Raises:
        MediaError: the file does not decode, or decodes to another number
            of frames than its container declares
    """
    import fiftyone.core.metadata as fomd

    probe = probe or probe_video(path)
    if not probe.frame_counts_agree:
        raise MediaError(
            "%s: the container declares %d frames but %d decode; re-encode the video before annotating it"
            % (path, probe.container_frames, probe.decoded_frames)
        )
    return fomd.VideoMetadata(
        size_bytes=probe.size_bytes,
        mime_type=probe.mime_type,
        frame_width=probe.width,
        frame_height=probe.height,
        frame_rate=float(probe.frame_rate),
        total_frame_count=probe.decoded_frames,
        duration=probe.duration,
        encoding_str=probe.fourcc,
    )
