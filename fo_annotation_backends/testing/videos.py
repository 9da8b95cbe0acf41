"""Small test videos made with PyAV, and their FiftyOne metadata.

No system ffmpeg is needed: PyAV (``pip install av``, in the ``test`` extra)
ships FFmpeg's libraries with libx264. :func:`make_video` writes a
constant-frame-rate MP4 (H.264, yuv420p, what Label Studio's browser player
and FastLabel accept) in which coloured rectangles (:class:`MovingBox`) move
at constant speed, so that a track's boxes are known for every frame
(:func:`track_detections`).

FiftyOne's ``compute_metadata()`` needs ffprobe for videos, which such a
machine lacks: give samples ``metadata=video_metadata(path)`` instead
(:func:`video_sample` does), computed with PyAV, decoded frame count
included.

Bad inputs for refusal tests: :func:`make_vfr_video` (variable frame rate),
:func:`make_mpeg4_video` (MPEG-4 Part 2, not H.264).
"""

from __future__ import annotations

import dataclasses
import fractions
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import fiftyone.core.labels as fol
import numpy as np

from ..core.video_probe import probe_video, video_metadata

if TYPE_CHECKING:
    import fiftyone.core.sample as fos

__all__ = [
    "MovingBox",
    "make_mpeg4_video",
    "make_vfr_video",
    "make_video",
    "probe_video",
    "track_detections",
    "video_metadata",
    "video_sample",
]

WIDTH, HEIGHT, FPS, FRAMES = 64, 48, 25, 30


@dataclasses.dataclass(frozen=True)
class MovingBox:
    """A filled rectangle moving at constant speed, shown on frames
    ``first``..``last`` (1-based, inclusive; ``last=None``: to the end).

    Positions are whole pixels (``x + dx * (frame - first)``, rounded, then
    clipped to the frame), so the drawn rectangle and :meth:`box` agree
    exactly.
    """

    x: float
    y: float
    width: int
    height: int
    dx: float = 1.0
    dy: float = 0.0
    first: int = 1
    last: int | None = None
    color: tuple[int, int, int] = (255, 64, 64)
    label: str = "box"

    def visible(self, frame_number: int) -> bool:
        """Whether the box is on frame ``frame_number``."""
        return frame_number >= self.first and (self.last is None or frame_number <= self.last)

    def pixel_box(self, frame_number: int, width: int, height: int) -> tuple[int, int, int, int] | None:
        """``(left, top, right, bottom)`` pixel edges on that frame, or
        ``None`` when the box is not shown or lies outside the frame."""
        if not self.visible(frame_number):
            return None
        step = frame_number - self.first
        left = int(round(self.x + self.dx * step))
        top = int(round(self.y + self.dy * step))
        x0, y0 = max(left, 0), max(top, 0)
        x1, y1 = min(left + self.width, width), min(top + self.height, height)
        if x1 <= x0 or y1 <= y0:
            return None
        return x0, y0, x1, y1

    def box(self, frame_number: int, width: int, height: int) -> list[float] | None:
        """The normalised ``[x, y, w, h]`` FiftyOne box on that frame."""
        edges = self.pixel_box(frame_number, width, height)
        if edges is None:
            return None
        x0, y0, x1, y1 = edges
        return [x0 / width, y0 / height, (x1 - x0) / width, (y1 - y0) / height]


def render_frame(boxes: Sequence[MovingBox], frame_number: int, width: int, height: int) -> np.ndarray:
    """The RGB pixels of one frame: a dark background with the boxes."""
    pixels = np.full((height, width, 3), 24, dtype=np.uint8)
    for box in boxes:
        edges = box.pixel_box(frame_number, width, height)
        if edges is not None:
            x0, y0, x1, y1 = edges
            pixels[y0:y1, x0:x1] = box.color
    return pixels


def make_video(
    path: str,
    boxes: Sequence[MovingBox] = (),
    frames: int = FRAMES,
    fps: int = FPS,
    width: int = WIDTH,
    height: int = HEIGHT,
    codec: str = "libx264",
    frame_times: Sequence[float] | None = None,
) -> str:
    """Writes a video of ``frames`` frames showing ``boxes``.

    Args:
        path: the output file (``.mp4``)
        boxes (()): the moving rectangles
        frames (30): the number of frames
        fps (25): the frame rate
        width, height (64, 48): the frame size (even, for yuv420p)
        codec ("libx264"): the encoder (``mpeg4`` for a non-H.264 video)
        frame_times (None): each frame's start in seconds (a variable frame
            rate); ``None``: frame ``i`` at ``i / fps``

    Returns:
        ``path``
    """
    import av

    time_base = fractions.Fraction(1, 1000) if frame_times is not None else fractions.Fraction(1, fps)
    with av.open(path, "w") as container:
        stream: Any = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = time_base
        if codec == "libx264":
            stream.codec_context.options = {"preset": "ultrafast", "crf": "18"}
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(render_frame(boxes, i + 1, width, height), format="rgb24")
            frame.time_base = time_base
            frame.pts = int(round(frame_times[i] * 1000)) if frame_times is not None else i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def make_vfr_video(path: str, frames: int = FRAMES, fps: int = FPS, **kwargs: Any) -> str:
    """An H.264 MP4 whose second half runs at half the rate of its first
    (a variable frame rate), for refusal tests."""
    half = frames // 2
    times = [i / fps for i in range(half)] + [half / fps + 2 * i / fps for i in range(frames - half)]
    return make_video(path, frames=frames, fps=fps, frame_times=times, **kwargs)


def make_mpeg4_video(path: str, **kwargs: Any) -> str:
    """A constant-rate MP4 encoded with MPEG-4 Part 2 (``mp4v``), not
    H.264, for codec refusal tests."""
    return make_video(path, codec="mpeg4", **kwargs)


def video_sample(path: str, **fields: Any) -> fos.Sample:
    """A FiftyOne video sample of ``path`` with its metadata computed by
    PyAV (:func:`video_metadata`), and the given sample fields."""
    import fiftyone as fo

    return fo.Sample(filepath=path, metadata=video_metadata(path), **fields)


def track_detections(
    boxes: Sequence[MovingBox],
    frames: int = FRAMES,
    width: int = WIDTH,
    height: int = HEIGHT,
    keyframe_every: int | None = None,
) -> dict[int, fol.Detections]:
    """``{frame_number: Detections}`` of the boxes as FiftyOne tracks: box
    ``k`` is track ``index=k + 1`` with ``label=box.label``.

    Args:
        keyframe_every (None): when set, every label gets a ``keyframe``
            flag, ``True`` on the first and last frame of each box and every
            ``keyframe_every`` frames from its first
    """
    out: dict[int, fol.Detections] = {}
    for number in range(1, frames + 1):
        detections = []
        for k, box in enumerate(boxes):
            bounding_box = box.box(number, width, height)
            if bounding_box is None:
                continue
            detection = fol.Detection(label=box.label, bounding_box=bounding_box, index=k + 1)
            if keyframe_every:
                last = min(box.last or frames, frames)
                detection["keyframe"] = (number - box.first) % keyframe_every == 0 or number == last
            detections.append(detection)
        if detections:
            out[number] = fol.Detections(detections=detections)
    return out
