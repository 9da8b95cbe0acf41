"""The baseline of ``bench_kili.py``: what a user would write by hand with the
official Kili SDK to do the work of our backend's ``annotate()`` /
``load_annotations()`` / ``cleanup()``. Not a FiftyOne backend (FiftyOne has
none for Kili): it starts from file paths and boxes in memory and ends with
the boxes of each image, with no FiftyOne merge.

Runs in the SDK's own virtual environment, one fresh process per round::

    .cache/kili-sdk-venv/bin/python bench/kili_sdk_baseline.py SPEC.json OUT.json

Phases, each measured by :class:`harness.measure.Meter`: ``import`` (``from
kili.client import Kili``); ``connect`` (``Kili(...)``, the SDK's start-up
handshake; the GraphQL schema comes from its on-disk cache, filled by the
warm-up); ``upload`` (``create_project`` with the jsonInterface our backend
builds, ``append_many_to_dataset`` of the local files with external ids, the
boxes as jsonResponses, ``append_labels`` as PREDICTION); a pause in which
the parent plays the annotator; ``download`` (``kili.assets(...)``, the
latest DEFAULT/REVIEW label of each asset, back to boxes); ``cleanup``
(``delete_project``).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness.measure import Meter, pause_for_parent, worker_main  # noqa: E402

HUMAN_LABEL_TYPES = ("DEFAULT", "REVIEW")


def box_to_annotation(mid: str, category: str, box: list[float]) -> dict:
    """A FiftyOne box ``[x, y, w, h]`` (normalised, top-left) as a Kili
    rectangle (vertices bottom-left, top-left, top-right, bottom-right)."""
    x, y, w, h = box
    vertices = [{"x": x, "y": y + h}, {"x": x, "y": y}, {"x": x + w, "y": y}, {"x": x + w, "y": y + h}]
    return {
        "mid": mid,
        "type": "rectangle",
        "categories": [{"name": category, "confidence": 100}],
        "boundingPoly": [{"normalizedVertices": vertices}],
    }


def annotation_to_box(annotation: dict) -> list[float]:
    """A Kili rectangle as ``[x, y, w, h]``."""
    vertices = annotation["boundingPoly"][0]["normalizedVertices"]
    xs, ys = [v["x"] for v in vertices], [v["y"] for v in vertices]
    return [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]


def upload(kili: Any, spec: dict, items: list[dict]) -> tuple[str, list[str]]:
    """The project, the assets and their boxes as PREDICTION labels."""
    interface, job = spec["json_interface"], spec["job"]
    key_of = {c["name"]: key for key, c in interface["jobs"][job]["content"]["categories"].items()}
    project_id = kili.create_project(
        input_type="IMAGE", json_interface=interface, title=spec["title"], description=spec["description"]
    )["id"]
    asset_ids = kili.append_many_to_dataset(
        project_id=project_id,
        content_array=[item["path"] for item in items],
        external_id_array=[item["external_id"] for item in items],
        disable_tqdm=True,
    )["asset_ids"]
    responses = [
        {job: {"annotations": [box_to_annotation(x["id"], key_of[x["label"]], x["box"]) for x in item["labels"]]}}
        for item in items
    ]
    kili.append_labels(
        asset_id_array=asset_ids,
        json_response_array=responses,
        label_type="PREDICTION",
        model_name=spec["model_name"],
        project_id=project_id,
        disable_tqdm=True,
    )
    return project_id, asset_ids


def download(kili: Any, spec: dict, project_id: str) -> tuple[dict, int]:
    """``{external id: [[class, box]]}`` of the assets with a DEFAULT/REVIEW
    label (the latest), and how many assets were read."""
    job = spec["job"]
    class_of = {key: c["name"] for key, c in spec["json_interface"]["jobs"][job]["content"]["categories"].items()}
    fields = ["id", "externalId"] + ["labels." + f for f in ("jsonResponse", "labelType", "createdAt", "author.email")]
    assets = kili.assets(project_id=project_id, fields=fields, disable_tqdm=True)
    out = {}
    for asset in assets:
        human = [x for x in asset.get("labels") or [] if x.get("labelType") in HUMAN_LABEL_TYPES]
        if not human:
            continue
        response = max(human, key=lambda x: x.get("createdAt") or "").get("jsonResponse") or {}
        response = json.loads(response) if isinstance(response, str) and response else response or {}
        annotations = (response.get(job) or {}).get("annotations") or []
        out[asset["externalId"]] = [
            [class_of.get(a["categories"][0]["name"]), annotation_to_box(a)]
            for a in annotations
            if a.get("type") == "rectangle"
        ]
    return out, len(assets)


def run(spec: dict, out: dict) -> None:
    """The measured round."""
    meter = Meter(spec, out)
    with open(spec["items"]) as f:
        items = json.load(f)  # the paths and boxes, in memory before anything is timed
    kili = project_id = None
    try:
        Kili = meter.measure("import", lambda: importlib.import_module("kili.client")).Kili
        kili = meter.measure(
            "connect",
            lambda: Kili(
                api_key=spec["api_key"],
                api_endpoint=spec["url"],
                graphql_client_params={"graphql_schema_cache_dir": spec["schema_cache_dir"]},
                disable_tqdm=True,
            ),
        )
        project_id, asset_ids = meter.measure("upload", lambda: upload(kili, spec, items))
        out.update(project_id=project_id, items=len(asset_ids))
        out["annotator"] = pause_for_parent(
            {"project_id": project_id, "items": {a: item["index"] for a, item in zip(asset_ids, items)}}
        )
        boxes, out["assets_downloaded"] = meter.measure("download", lambda: download(kili, spec, project_id))
        index_of = {item["external_id"]: item["index"] for item in items}
        out["labels_after_load"] = sum(len(b) for b in boxes.values())
        out["summary"] = {
            str(index_of[e]): sorted([label, [round(v, 4) for v in box]] for label, box in b) for e, b in boxes.items()
        }
        meter.measure("cleanup", lambda: kili.delete_project(project_id))
        project_id = None
    finally:
        meter.stop()
        if project_id is not None and kili is not None:
            try:
                kili.delete_project(project_id)
            except Exception:
                pass


if __name__ == "__main__":
    sys.exit(worker_main(run, sys.argv[1], sys.argv[2]))
