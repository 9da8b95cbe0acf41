"""The main job, end to end on this machine.

Starts a local Label Studio server, builds a small dataset of generated
images with existing detections, sends it to Label Studio with
``annotate()``, lets a simulated annotator edit, add and delete labels
through Label Studio's REST API, merges the work back with
``load_annotations()``, and prints what changed. ``--backend kili`` and
``--backend fastlabel`` do the same against the Kili-protocol emulator
(GraphQL, signed-URL uploads, DEFAULT and REVIEW labels by named people) or
the FastLabel-protocol emulator (REST, base64 tasks, edits in place, task
statuses).

    python -m fo_annotation_backends.demo [--backend labelstudio|kili|fastlabel] [--samples 12] [--keep-server]
"""

import argparse
import collections
import os
import random
import sys
import time

import numpy as np
from PIL import Image, ImageDraw

CLASSES = ["cat", "dog", "traffic light", "café & <bar>"]


def make_images(folder, count, seed=0):
    """Generated images with a few coloured boxes; returns (path, boxes)."""
    rng = random.Random(seed)
    os.makedirs(folder, exist_ok=True)
    out = []
    for i in range(count):
        width, height = 320, 240
        image = Image.fromarray((np.random.default_rng(seed + i).random((height, width, 3)) * 60).astype(np.uint8))
        draw = ImageDraw.Draw(image)
        boxes = []
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


def simulate_annotator(annotator, task_ids, rng):
    """Edits, adds and deletes boxes the way a person would, task by task."""
    for n, task_id in enumerate(task_ids):
        result = annotator.prefilled_result(task_id)
        boxes = [r for r in result if r["type"] == "rectanglelabels"]
        if n % 4 == 0 and boxes:  # move and relabel the first box
            value = boxes[0]["value"]
            value["x"] = min(value["x"] + 5.0, 100.0 - value["width"])
            value["rectanglelabels"] = [CLASSES[(CLASSES.index(value["rectanglelabels"][0]) + 1) % len(CLASSES)]]
        if n % 4 == 1 and boxes:  # delete the last box
            result = [r for r in result if r["id"] != boxes[-1]["id"]]
        if n % 4 == 2:  # add a box the model missed
            result.append(
                {
                    "id": "new%05d" % n,
                    "from_name": "ground_truth",
                    "to_name": "image",
                    "type": "rectanglelabels",
                    "value": {
                        "x": 5.0,
                        "y": 5.0,
                        "width": 20.0,
                        "height": 15.0,
                        "rotation": 0,
                        "rectanglelabels": [rng.choice(CLASSES)],
                    },
                }
            )
        if n % 4 == 3 and n % 8 == 7:
            annotator.skip(task_id)
            continue
        annotator.submit(task_id, result)


def simulate_kili_annotator(annotator, results, rng):
    """The same edits as :func:`simulate_annotator`, as a person in Kili's
    editor: DEFAULT labels by one annotator, some reviewed by another."""
    mapping = results.interface_mapping
    job = mapping["jobs"]["ground_truth"]
    keys = mapping["categories"]["ground_truth"]
    classes = {v: k for k, v in keys.items()}
    for n, (_sample_id, asset_id) in enumerate(sorted(results.asset_ids.items())):
        response = annotator.prefilled(results.project_id, asset_id)
        boxes = response.setdefault(job, {"annotations": []})["annotations"]
        if n % 4 == 0 and boxes:  # move and relabel the first box
            vertices = boxes[0]["boundingPoly"][0]["normalizedVertices"]
            shift = min(0.05, 1.0 - max(v["x"] for v in vertices))
            for vertex in vertices:
                vertex["x"] += shift
            name = classes[boxes[0]["categories"][0]["name"]]
            boxes[0]["categories"] = [
                {"name": keys[CLASSES[(CLASSES.index(name) + 1) % len(CLASSES)]], "confidence": 100}
            ]
        if n % 4 == 1 and boxes:  # delete the last box
            boxes.pop()
        if n % 4 == 2:  # add a box the model missed
            boxes.append(
                {
                    "mid": "new%05d" % n,
                    "type": "rectangle",
                    "categories": [{"name": keys[rng.choice(CLASSES)], "confidence": 100}],
                    "boundingPoly": [
                        {
                            "normalizedVertices": [
                                {"x": 0.05, "y": 0.2},
                                {"x": 0.05, "y": 0.05},
                                {"x": 0.25, "y": 0.05},
                                {"x": 0.25, "y": 0.2},
                            ]
                        }
                    ],
                    "children": {},
                }
            )
        if n % 4 == 3 and n % 8 == 7:
            continue  # nobody opened this one: it keeps its labels
        annotator.submit(results.project_id, asset_id, response, author="annotator@example.com")
        if n % 3 == 0:  # a reviewer accepts it as it is
            annotator.submit(results.project_id, asset_id, response, author="reviewer@example.com", label_type="REVIEW")


def simulate_fastlabel_annotator(annotator, results, rng):
    """The same edits as :func:`simulate_annotator`, as a person in
    FastLabel's editor (edited annotations keep their ids), then a reviewer
    approving some tasks."""
    values = results.interface_mapping["classes"]["ground_truth"]
    classes = {v: k for k, v in values.items()}
    for n, (_sample_id, task_id) in enumerate(sorted(results.task_ids.items())):
        task = annotator.task(task_id)
        boxes = task["annotations"]
        width = task["width"]
        if n % 4 == 0 and boxes:  # move and relabel the first box
            x1, y1, x2, y2 = boxes[0]["points"]
            shift = min(0.05 * width, width - x2)
            boxes[0]["points"] = [x1 + shift, y1, x2 + shift, y2]
            name = classes[boxes[0]["value"]]
            boxes[0]["value"] = values[CLASSES[(CLASSES.index(name) + 1) % len(CLASSES)]]
        if n % 4 == 1 and boxes:  # delete the last box
            boxes.pop()
        if n % 4 == 2:  # add a box the model missed
            boxes.append(
                {"type": "bbox", "value": values[rng.choice(CLASSES)], "points": [16, 12, 80, 48], "attributes": []}
            )
        if n % 4 == 3 and n % 8 == 7:
            continue  # nobody opened this one: it keeps its labels
        annotator.submit(task_id, boxes, status="completed")
        if n % 3 == 0:
            annotator.set_status(task_id, "approved")


def build_dataset(fo, fol, media, count):
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


def print_changes(dataset, before):
    changes = collections.Counter()
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["labelstudio", "kili", "fastlabel"], default="labelstudio")
    parser.add_argument("--samples", type=int, default=12)
    parser.add_argument("--keep-server", action="store_true", help="leave the server running to look at it")
    args = parser.parse_args(argv)
    if args.backend == "kili":
        return run_kili(args)
    if args.backend == "fastlabel":
        return run_fastlabel(args)
    return run_labelstudio(args)


def run_kili(args):
    from .kili import KiliBackendConfig
    from .testing.kili import KiliEmulator
    from .testing.kili_annotator import KiliAnnotator

    def simulate(server, results):
        simulate_kili_annotator(KiliAnnotator(server.url, server.api_key), results, random.Random(1))

    return run_emulated(args, "kili", KiliBackendConfig, KiliEmulator, simulate, "Kili", project_name="FiftyOne demo")


def run_fastlabel(args):
    from .fastlabel import FastLabelBackendConfig
    from .testing.fastlabel import FastLabelEmulator
    from .testing.fastlabel_annotator import FastLabelAnnotator

    def simulate(server, results):
        simulate_fastlabel_annotator(FastLabelAnnotator(server.url, server.api_key), results, random.Random(1))

    return run_emulated(
        args,
        "fastlabel",
        FastLabelBackendConfig,
        FastLabelEmulator,
        simulate,
        "FastLabel",
        project_name="FiftyOne demo",
        priority="high",
    )


def run_emulated(args, backend, config_cls, emulator_cls, simulate, service, **annotate_kwargs):
    """The main job against one of this package's emulators, in-process."""
    import fiftyone as fo
    import fiftyone.core.labels as fol

    from .testing.labelstudio_server import cache_dir

    media = os.path.join(cache_dir(), "demo-media")
    with emulator_cls() as server:
        print("A local %s-protocol server is up at %s" % (service, server.url))
        fo.annotation_config.backends[backend] = {
            "config_cls": "%s.%s" % (config_cls.__module__.rsplit(".", 1)[0], config_cls.__name__),
            "url": server.url,
            "api_key": server.api_key,
        }
        dataset = build_dataset(fo, fol, media, args.samples)
        before = {s.id: {d.id: d for d in s.ground_truth.detections} for s in dataset}
        anno_key = "demo_%d" % int(time.time())
        schema = {"ground_truth": {"type": "detections", "classes": CLASSES}}
        results = dataset.annotate(anno_key, backend=backend, label_schema=schema, **annotate_kwargs)
        print("Sent %d samples to %s (%s)" % (len(dataset), service, results.project_url))

        simulate(server, results)
        results.print_status()
        dataset.load_annotations(anno_key)
        print_changes(dataset, before)
        _print_requests(server)
        if args.keep_server:
            _wait_for_ctrl_c(server)
    return 0


def _print_requests(server):
    stats = server.stats()
    print(
        "\nThe server answered %d requests: %s"
        % (stats["requests"], ", ".join("%s %d" % item for item in sorted(stats["operations"].items())))
    )


def _wait_for_ctrl_c(server):
    print("Server left running at %s (key %s); press Ctrl-C to stop it." % (server.url, server.api_key))
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


def run_labelstudio(args):
    import fiftyone as fo
    import fiftyone.core.labels as fol

    from .testing.labelstudio_annotator import LabelStudioAnnotator
    from .testing.labelstudio_server import LabelStudioServer, cache_dir

    cache = cache_dir()
    media = os.path.join(cache, "demo-media")
    print("Starting a local Label Studio server (first start migrates its database: ~40 s)...")
    server = LabelStudioServer(data_dir=os.path.join(cache, "labelstudio-data"))
    server.start()
    try:
        print("Label Studio is up at %s" % server.url)
        fo.annotation_config.backends["labelstudio"] = {
            "config_cls": "fo_annotation_backends.labelstudio.LabelStudioBackendConfig",
            "url": server.url,
            "api_key": server.legacy_token,
        }
        dataset = build_dataset(fo, fol, media, args.samples)
        before = {s.id: {d.id: d for d in s.ground_truth.detections} for s in dataset}
        anno_key = "demo_%d" % int(time.time())
        schema = {"ground_truth": {"type": "detections", "classes": CLASSES}}
        results = dataset.annotate(anno_key, backend="labelstudio", label_schema=schema)
        print("Sent %d samples to Label Studio project %s" % (len(dataset), results.project_id))

        annotator = LabelStudioAnnotator(server.url, server.legacy_token)
        simulate_annotator(annotator, sorted(results.uploaded_tasks), random.Random(1))
        results.print_status()

        dataset.load_annotations(anno_key)
        print_changes(dataset, before)
        print(
            "\nLook at the project: %s (user %s, password %s)" % (results.project_url, server.username, server.password)
        )
        if args.keep_server:
            print("Server left running; press Ctrl-C to stop it.")
            server.wait()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
