"""The main job, end to end on this machine.

Starts a local server of one of the services of the registry (its real
server, or this package's emulator of its protocol: the registry's
``local_server``), builds a small dataset of generated
images with existing detections, sends it with ``annotate()``, lets the
service's simulated person edit, add and delete labels through the
service's own API, merges the work back with ``load_annotations()``, and
prints what changed.

    python -m fo_annotation_backends.demo [--backend NAME] [--samples 12] [--keep-server]
    python -m fo_annotation_backends.demo --backend NAME --url URL --api-key KEY   # a server already running
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import sys
import time
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from PIL import Image, ImageDraw

from . import registry

if TYPE_CHECKING:
    from fiftyone.core.dataset import Dataset
    from fiftyone.core.labels import Detection
    from fiftyone.utils.annotations import AnnotationResults

CLASSES = ["cat", "dog", "traffic light", "café & <bar>"]

#: ``(label, [x, y, width, height])`` of a box, in relative coordinates
Box = tuple[str, list[float]]


class DemoServer(Protocol):
    """What the demo uses of a running server (a registry's ``local_server``,
    or one given with ``--url``); ``describe()`` is used when it has one."""

    @property
    def url(self) -> str:
        """Where the service's API is."""
        ...

    @property
    def api_key(self) -> str:
        """A key the server accepts."""
        ...

    def stats(self) -> dict[str, Any] | None:
        """``{"requests": n, "operations": {name: n}, ...}`` since the start, or None when it counts nothing."""
        ...


def make_images(folder: str, count: int, seed: int = 0) -> list[tuple[str, list[Box]]]:
    """Generated images with a few coloured boxes; returns (path, boxes)."""
    rng = random.Random(seed)
    os.makedirs(folder, exist_ok=True)
    out = []
    for i in range(count):
        width, height = 320, 240
        image = Image.fromarray((np.random.default_rng(seed + i).random((height, width, 3)) * 60).astype(np.uint8))
        draw = ImageDraw.Draw(image)
        boxes: list[Box] = []
        for _ in range(rng.randint(2, 3)):
            w, h = rng.uniform(0.15, 0.35), rng.uniform(0.15, 0.35)
            x, y = rng.uniform(0, 1 - w), rng.uniform(0, 1 - h)
            label = rng.choice(CLASSES)
            draw.rectangle([x * width, y * height, (x + w) * width, (y + h) * height], outline=(255, 200, 0), width=3)
            boxes.append((label, [x, y, w, h]))
        path = os.path.join(folder, "image_%03d.jpg" % i)
        image.save(path, quality=90)
        out.append((path, boxes))
    return out


def build_dataset(fo: ModuleType, fol: ModuleType, media: str, count: int) -> Dataset:
    """A new dataset of ``count`` generated images in ``media``, with their boxes as ``ground_truth``."""
    name = "fo-annotation-backends-demo"
    if fo.dataset_exists(name):
        fo.delete_dataset(name)
    dataset = fo.Dataset(name)
    for path, boxes in make_images(media, count):
        dataset.add_sample(
            fo.Sample(
                filepath=path,
                ground_truth=fol.Detections(
                    detections=[fol.Detection(label=label, bounding_box=box) for label, box in boxes]
                ),
            )
        )
    return dataset


def print_changes(dataset: Dataset, before: dict[str, dict[str, Detection]]) -> None:
    """Prints what the merge added, edited and deleted in ``ground_truth``
    (``before``: ``{sample id: {label id: detection}}``)."""
    changes: collections.Counter[str] = collections.Counter()
    for sample in dataset:
        now = {d.id: d for d in sample.ground_truth.detections}
        old = before[sample.id]
        changes["added"] += len(set(now) - set(old))
        changes["deleted"] += len(set(old) - set(now))
        changes["edited"] += sum(
            1
            for i in set(now) & set(old)
            if now[i].label != old[i].label or not np.allclose(now[i].bounding_box, old[i].bounding_box)
        )
    print("\nMerged back into field 'ground_truth':")
    print("    added:   %d" % changes["added"])
    print("    edited:  %d" % changes["edited"])
    print("    deleted: %d" % changes["deleted"])


def main(argv: list[str] | None = None) -> int:
    """Runs the demo; returns the exit code."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--backend", choices=registry.names(), default=registry.SERVICES[0].name)
    parser.add_argument("--samples", type=int, default=12)
    parser.add_argument("--keep-server", action="store_true", help="leave the server running to look at it")
    parser.add_argument("--url", help="use this server instead of starting one (with --api-key)")
    parser.add_argument("--api-key", help="the key of the server given with --url")
    args = parser.parse_args(argv)
    if bool(args.url) != bool(args.api_key):
        parser.error("--url and --api-key go together")
    service = registry.get(args.backend)
    if args.url:
        return run_demo(args, service, _ExistingServer(args.url, args.api_key))
    server = service.hook(service.local_server)()
    message = getattr(server, "starting_message", None)
    if message:
        print(message)
    with server:
        return run_demo(args, service, server)


class _ExistingServer:
    """A server the user started (``--url``/``--api-key``)."""

    def __init__(self, url: str, api_key: str) -> None:
        self.url = url
        self.api_key = api_key

    def stats(self) -> None:
        return None


def run_demo(args: argparse.Namespace, service: registry.Service, server: DemoServer) -> int:
    """The main job against a running server of ``service``."""
    import fiftyone as fo
    import fiftyone.core.labels as fol

    from .testing import cache_dir

    media = os.path.join(cache_dir(), "demo-media")
    print("%s is up at %s" % (service.title, server.url))
    fo.annotation_config.backends[service.name] = {
        "config_cls": service.config_cls,
        "url": server.url,
        "api_key": server.api_key,
    }
    dataset = build_dataset(fo, fol, media, args.samples)
    before = {s.id: {d.id: d for d in s.ground_truth.detections} for s in dataset}
    anno_key = "demo_%d" % int(time.time())
    schema = {"ground_truth": {"type": "detections", "classes": CLASSES}}
    results = dataset.annotate(anno_key, backend=service.name, label_schema=schema, **service.demo_parameters)
    print("Sent %d samples to %s (project %s)" % (len(dataset), service.title, results.project_id))

    service.hook(service.demo_annotator)(server, results, CLASSES, random.Random(1))
    results.print_status()
    dataset.load_annotations(anno_key)
    print_changes(dataset, before)
    _print_requests(server)
    if args.keep_server and not args.url:
        _wait_for_ctrl_c(server, results)
    return 0


def _print_requests(server: DemoServer) -> None:
    stats = server.stats()
    if not stats:
        return
    print(
        "\nThe server answered %d requests: %s"
        % (stats["requests"], ", ".join("%s %d" % item for item in sorted(stats["operations"].items())))
    )


def _wait_for_ctrl_c(server: DemoServer, results: AnnotationResults) -> None:
    url = getattr(results, "project_url", None)
    describe = getattr(server, "describe", None)
    print("\nServer left running at %s (key %s)." % (server.url, server.api_key))
    if url:
        print("Look at the project: %s%s" % (url, " (%s)" % describe() if describe else ""))
    print("Press Ctrl-C to stop it.")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
