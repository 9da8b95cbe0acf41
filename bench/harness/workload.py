"""The workload every bench shares: N generated 640x480 JPEGs with 3-4
ground-truth boxes each, the simulated annotator's edit (keep every box when
``i % 3 == 0``, move the first box 5% of the width right when ``== 1``,
delete the last box when ``== 2``) and the check of what came back."""

from __future__ import annotations

import os
import random
import re
import time
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CACHE = os.path.abspath(os.environ.get("FOAB_CACHE_DIR") or os.path.join(ROOT, ".cache"))
CLASSES = ["cat", "dog", "car", "person"]
FIELD = "ground_truth"
LABEL_SCHEMA = {FIELD: {"type": "detections", "classes": CLASSES}}
#: how far the annotator moves a box, as a fraction of the image width
MOVE = 0.05
TOLERANCE = 2e-4


def log(message: str) -> None:
    """A timestamped progress line on stdout."""
    print("[%s] %s" % (time.strftime("%H:%M:%S"), message), flush=True)


def image_index(filepath: str) -> int:
    """``.../img_00012.jpg`` -> 12."""
    match = re.search(r"(\d+)\.\w+$", filepath)
    if match is None:
        raise ValueError("no image index in %r" % filepath)
    return int(match.group(1))


def boxes_of(index: int) -> list[tuple[str, list[float]]]:
    """The 3-4 ground-truth boxes of image ``index`` (deterministic):
    ``[(class, [x, y, w, h])]``, normalised."""
    rng = random.Random(1000 + index)
    boxes = []
    for _ in range(rng.choice((3, 4))):
        w, h = rng.uniform(0.1, 0.3), rng.uniform(0.1, 0.3)
        x, y = rng.uniform(0, 1 - w), rng.uniform(0, 1 - h)
        boxes.append((rng.choice(CLASSES), [x, y, w, h]))
    return boxes


def edit_of(index: int) -> str:
    """What the annotator does to image ``index``: keep, move or delete."""
    return ("keep", "move", "delete")[index % 3]


def expected_boxes(index: int) -> list[tuple[str, list[float]]]:
    """The boxes of image ``index`` after the annotator's edit (a moved box
    stays inside the image)."""
    boxes = [(label, list(box)) for label, box in boxes_of(index)]
    if edit_of(index) == "move":
        label, (x, y, w, h) = boxes[0]
        boxes[0] = (label, [min(x + MOVE, 1.0 - w), y, w, h])
    elif edit_of(index) == "delete":
        boxes = boxes[:-1]
    return boxes


def _save_images(folder: str, names: list[str], make: Any) -> list[str]:
    """Paths of ``names`` in ``folder``, made by ``make(i)`` (a PIL image and
    its save options) when missing; cached across runs."""
    os.makedirs(folder, exist_ok=True)
    paths, made = [], 0
    for i, name in enumerate(names):
        path = os.path.join(folder, name)
        paths.append(path)
        if os.path.isfile(path) and os.path.getsize(path) > 0:
            continue
        image, options = make(i)
        image.save(path + ".tmp", **options)
        os.replace(path + ".tmp", path)
        made += 1
    if made:
        log("generated %d images in %s" % (made, folder))
    return paths


def make_std_images(n: int, width: int = 640, height: int = 480) -> list[str]:
    """``n`` JPEGs (noise, with the ground-truth boxes filled in)."""
    import numpy as np
    from PIL import Image, ImageDraw

    colors = {"cat": (230, 120, 40), "dog": (60, 160, 230), "car": (200, 40, 60), "person": (80, 200, 90)}

    def make(i: int) -> tuple:
        pixels = (np.random.default_rng(i).random((height, width, 3)) * 90 + 40).astype(np.uint8)
        image = Image.fromarray(pixels)
        draw = ImageDraw.Draw(image)
        for label, (x, y, w, h) in boxes_of(i):
            draw.rectangle([x * width, y * height, (x + w) * width, (y + h) * height], fill=colors[label])
        return image, {"format": "JPEG", "quality": 90}

    folder = os.path.join(CACHE, "bench-media", "std-%dx%d" % (width, height))
    return _save_images(folder, ["img_%05d.jpg" % i for i in range(n)], make)


def make_noise_images(n: int, side: int) -> list[str]:
    """``n`` incompressible random-noise PNGs of ``side`` x ``side`` RGB
    (about ``3 * side**2`` bytes each), for upload-size sweeps."""
    import numpy as np
    from PIL import Image

    def make(i: int) -> tuple:
        pixels = np.random.default_rng(50000 + i).integers(0, 256, (side, side, 3), dtype=np.uint8)
        return Image.fromarray(pixels), {"format": "PNG", "compress_level": 1}

    folder = os.path.join(CACHE, "bench-media", "big-%d" % side)
    return _save_images(folder, ["big_%04d.png" % i for i in range(n)], make)


def clone(collection: Any, name: str) -> Any:
    """A persistent copy of a dataset or view (replacing ``name``)."""
    import fiftyone as fo

    if fo.dataset_exists(name):
        fo.delete_dataset(name)
    return collection.clone(name, persistent=True)


def build_dataset(name: str, paths: list[str], with_boxes: bool = True, metadata: bool = True) -> Any:
    """A fresh persistent dataset of ``paths`` with :func:`boxes_of` in
    :data:`FIELD` (only the first box of each image when not ``with_boxes``)."""
    import fiftyone as fo
    import fiftyone.core.labels as fol

    if fo.dataset_exists(name):
        fo.delete_dataset(name)
    # persistent: a worker process that starts while FiftyOne's heartbeat of
    # this one is not in flight would delete non-persistent datasets
    dataset = fo.Dataset(name, persistent=True)
    samples = []
    for path in paths:
        boxes = boxes_of(image_index(path))
        boxes = boxes if with_boxes else boxes[:1]
        detections = [fol.Detection(label=label, bounding_box=box) for label, box in boxes]
        samples.append(fo.Sample(filepath=path, **{FIELD: fol.Detections(detections=detections)}))
    dataset.add_samples(samples, progress=False)
    if metadata:
        dataset.compute_metadata(progress=False)
    return dataset


def labels_summary(dataset: Any) -> dict[str, list]:
    """``{image index: sorted [[label, box rounded to 1e-4]]}`` of the field."""
    paths, labels, boxes = dataset.values(["filepath", FIELD + ".detections.label", FIELD + ".detections.bounding_box"])
    out = {}
    for path, sample_labels, sample_boxes in zip(paths, labels, boxes):
        pairs = zip(sample_labels or [], sample_boxes or [])
        out[str(image_index(path))] = sorted([label, [round(v, 4) for v in box]] for label, box in pairs)
    return out


def same_boxes(got: list, want: list, tolerance: float = TOLERANCE) -> bool:
    """Two lists of ``(label, box)`` hold the same labels and boxes (each
    coordinate within ``tolerance``), in any order: each box is paired with
    a box of the other list that matches it (not by sorting, which pairs
    wrongly when two boxes of a class differ by less than ``tolerance`` in
    their first coordinate)."""
    if len(got) != len(want):
        return False
    left = [(label, list(box)) for label, box in want]
    for label, box in got:
        match = next(
            (
                k
                for k, (wl, wb) in enumerate(left)
                if wl == label and all(abs(a - b) <= tolerance for a, b in zip(box, wb))
            ),
            None,
        )
        if match is None:
            return False
        left.pop(match)
    return True


def check_summary(summary: dict, indices: list[int], tolerance: float = TOLERANCE) -> tuple[int, list[int]]:
    """``(images whose boxes are the expected edits, [the other indices])``
    of a :func:`labels_summary`-style dict (each coordinate within
    ``tolerance``)."""
    bad = [i for i in indices if not same_boxes(summary.get(str(i), []), expected_boxes(i), tolerance)]
    return len(indices) - len(bad), bad


def sdk_items(dataset: Any) -> list[dict]:
    """What a by-hand SDK script starts from, read from the dataset: per
    image its path, index, name, external id, size and labels (id, class,
    box)."""
    fields = ["filepath", "metadata.width", "metadata.height"]
    fields += [FIELD + ".detections." + k for k in ("id", "label", "bounding_box")]
    items = []
    for path, width, height, ids, labels, boxes in zip(*dataset.values(fields)):
        items.append(
            {
                "path": path,
                "index": image_index(path),
                "name": os.path.basename(path),
                "external_id": os.path.splitext(os.path.basename(path))[0],
                "width": width,
                "height": height,
                "labels": [
                    {"id": i, "label": label, "box": list(box)}
                    for i, label, box in zip(ids or [], labels or [], boxes or [])
                ],
            }
        )
    return items
