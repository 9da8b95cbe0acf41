"""The baseline of ``bench_picsellia.py``: what a user would write by hand
with the official Picsellia SDK to do the work of our backend's
``annotate()`` / ``load_annotations()`` / ``cleanup()``. Not a FiftyOne
backend (FiftyOne has none for Picsellia): it starts from file paths, image
sizes and boxes in memory and ends with the boxes of each image, with no
FiftyOne merge.

Runs in the SDK's own virtual environment, one fresh process per round::

    .cache/picsellia-sdk-venv/bin/python bench/picsellia_sdk_baseline.py SPEC.json OUT.json

Phases, each measured by :class:`harness.measure.Meter`: ``import`` (``import
picsellia``); ``connect`` (``Client(api_token, host, organization_name)``:
ping, organization); ``upload_data`` (``get_datalake()``,
``upload_data(paths)``: the SDK's own threads and its wait for processing);
``version`` (``create_dataset``, ``create_version(type=OBJECT_DETECTION)``,
``add_data`` (a job, waited for), ``create_label`` per class);
``pre_annotations`` (the boxes written as a COCO file in pixels, then
``import_annotations_coco_file``); a pause in which the parent plays the
annotator; ``download`` (``list_assets()`` and ``load_annotations(status=
ACCEPTED)``, the newest ACCEPTED annotation of each asset mapped back to its
image by filename, boxes back to normalised ``[x, y, w, h]``); ``cleanup``
(``version.delete()``, the uploaded data's ``delete()``, ``dataset.delete()``).

A cleanup call the server refuses is recorded (``cleanup_errors``: the SDK
call and its exception) and the next one is tried: the report lists them.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness.measure import Meter, pause_for_parent, worker_main  # noqa: E402


def pixel_box(box: list[float], width: int, height: int) -> list[int]:
    """A normalised ``[x, y, w, h]`` as whole pixels ``[x, y, w, h]``
    (corners rounded, as Picsellia stores rectangles)."""
    x, y, w, h = box
    x0, y0 = round(x * width), round(y * height)
    x1, y1 = round((x + w) * width), round((y + h) * height)
    return [x0, y0, max(1, x1 - x0), max(1, y1 - y0)]


def coco_file(items: list[dict], classes: list[str], path: str) -> None:
    """Writes the boxes as a COCO detection file (images by filename)."""
    category = {name: k + 1 for k, name in enumerate(classes)}
    images: list[dict] = []
    annotations: list[dict] = []
    for item in items:
        images.append(
            {"id": item["index"], "file_name": item["name"], "width": item["width"], "height": item["height"]}
        )
        for label in item["labels"]:
            bbox = pixel_box(label["box"], item["width"], item["height"])
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": item["index"],
                    "category_id": category[label["label"]],
                    "bbox": bbox,
                    "area": bbox[2] * bbox[3],
                    "iscrowd": 0,
                    "segmentation": [],
                }
            )
    categories = [{"id": k, "name": name, "supercategory": ""} for name, k in category.items()]
    with open(path, "w") as f:
        json.dump({"images": images, "annotations": annotations, "categories": categories}, f)


def upload(picsellia: Any, client: Any, spec: dict, items: list[dict], meter: Meter) -> tuple[Any, Any, Any]:
    """The datalake upload, the dataset version with its assets and labels,
    and the boxes imported; returns ``(data, dataset, version)``."""
    from picsellia.types.enums import InferenceType

    def send() -> Any:
        lake = client.get_datalake()
        return lake.upload_data([item["path"] for item in items])

    data = meter.measure("upload_data", send)

    def make_version() -> tuple[Any, Any]:
        dataset = client.create_dataset(spec["dataset_name"], description="bench_picsellia.py SDK baseline")
        version = dataset.create_version("v1", description="by hand", type=InferenceType.OBJECT_DETECTION)
        version.add_data(data)
        for name in spec["classes"]:
            version.create_label(name)
        return dataset, version

    dataset, version = meter.measure("version", make_version)

    def pre_annotate() -> int:
        coco_file(items, spec["classes"], spec["coco_path"])
        created = version.import_annotations_coco_file(spec["coco_path"], force_create_label=False)
        return len(created)

    meter.out["annotations_imported"] = meter.measure("pre_annotations", pre_annotate)
    return data, dataset, version


def download(picsellia: Any, version: Any) -> dict[str, list]:
    """``{filename: [[class, box]]}`` of the assets whose newest ACCEPTED
    annotation was read, boxes normalised ``[x, y, w, h]``."""
    from picsellia.types.enums import AnnotationStatus

    sizes = {str(a.id): (a.filename, a.width, a.height) for a in version.list_assets()}
    try:
        loaded = version.load_annotations(status=AnnotationStatus.ACCEPTED)
    except picsellia.exceptions.NoDataError:
        loaded = {}
    out = {}
    for asset_id, of_asset in loaded.items():
        if asset_id not in sizes or not of_asset:
            continue
        filename, width, height = sizes[asset_id]
        newest = of_asset[0]  # the SDK gives them newest first
        out[filename] = [
            [r["label"], [r["x"] / width, r["y"] / height, r["w"] / width, r["h"] / height]]
            for r in newest.get("rectangles") or []
        ]
    return out


def cleanup(objects: list[tuple[str, Any]], out: dict) -> None:
    """Deletes each object in turn; a refusal is recorded, the next tried."""
    for what, obj in objects:
        try:
            obj.delete()
        except Exception as e:
            out.setdefault("cleanup_errors", []).append({"call": what, "error": "%s: %s" % (type(e).__name__, e)})


def run(spec: dict, out: dict) -> None:
    """The measured round."""
    meter = Meter(spec, out)
    with open(spec["items"]) as f:
        items = json.load(f)  # the paths, sizes and boxes, in memory before anything is timed
    objects: list[tuple[str, Any]] = []
    try:
        picsellia = meter.measure("import", lambda: importlib.import_module("picsellia"))
        importlib.import_module("picsellia.exceptions")
        client = meter.measure(
            "connect",
            lambda: picsellia.Client(
                api_token=spec["api_key"], host=spec["url"], organization_name=spec["organization"]
            ),
        )
        data, dataset, version = upload(picsellia, client, spec, items, meter)
        objects = [("DatasetVersion.delete()", version), ("MultiData.delete()", data), ("Dataset.delete()", dataset)]
        index_of = {item["name"]: item["index"] for item in items}
        assets = {str(a.id): index_of[a.filename] for a in version.list_assets()}  # untimed: the annotator's list
        out.update(project_id=str(version.id), items=len(assets))
        out["annotator"] = pause_for_parent({"project_id": str(version.id), "items": assets})
        boxes = meter.measure("download", lambda: download(picsellia, version))
        out["assets_downloaded"] = len(boxes)
        out["labels_after_load"] = sum(len(b) for b in boxes.values())
        out["summary"] = {
            str(index_of[name]): sorted([label, [round(v, 4) for v in box]] for label, box in b)
            for name, b in boxes.items()
        }
        meter.measure("cleanup", lambda: cleanup(objects, out))
        objects = []
    finally:
        meter.stop()
        for _, obj in objects:  # a failed round: leave nothing behind (untimed)
            try:
                obj.delete()
            except Exception:
                pass


if __name__ == "__main__":
    sys.exit(worker_main(run, sys.argv[1], sys.argv[2]))
