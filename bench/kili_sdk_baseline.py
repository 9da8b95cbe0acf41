"""The baseline of ``bench_kili.py``: what a user would write by hand with the
official Kili SDK to do the same work as our backend's ``annotate()`` /
``load_annotations()`` / ``cleanup()``. It is NOT a FiftyOne backend
(FiftyOne has no built-in Kili backend): it starts from file paths and boxes
already in memory and ends with the boxes of each image, with no FiftyOne
merge.

Runs in the SDK's own virtual environment (``.cache/kili-sdk-venv``), one
fresh process per round, started by ``bench_kili.py``::

    .cache/kili-sdk-venv/bin/python bench/kili_sdk_baseline.py SPEC.json OUT.json

Phases (each timed, its HTTP requests counted by wrapping
``requests.Session.send``, its peak RSS sampled every 20 ms, and the
emulator's own per-operation counts read around it):

- ``import``: ``from kili.client import Kili`` (informational);
- ``connect``: ``Kili(...)``, the SDK's start-up handshake (viewer, version,
  apiKeys; the GraphQL schema comes from the SDK's on-disk cache, filled by
  the untimed warm-up);
- ``upload``: ``create_project`` (the jsonInterface our backend builds),
  ``append_many_to_dataset`` (the local files, with external ids),
  converting the boxes to jsonResponses, ``append_labels`` (PREDICTION,
  ``model_name``);
- a pause: the parent plays the annotator (untimed, uncounted);
- ``download``: ``kili.assets(...)`` with the labels' jsonResponse, type,
  date and author, the latest DEFAULT/REVIEW label of each asset, converted
  back to boxes;
- ``cleanup``: ``delete_project``.
"""

import json
import os
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from bench_common import EmulatorControl, Meter, max_rss_mb, pause_for_parent  # noqa: E402

HUMAN_LABEL_TYPES = ("DEFAULT", "REVIEW")


def storage_path_key(path):
    """Request counting key: signed storage URLs by kind, not by asset."""
    if path.startswith("/storage/"):
        return "/storage/{path}"
    return path


# --- what the user writes by hand ---------------------------------------------


def box_to_annotation(mid, category_key, box):
    """A FiftyOne box ``[x, y, w, h]`` (normalised, top-left) as a Kili
    rectangle annotation (vertices bottom-left, top-left, top-right,
    bottom-right)."""
    x, y, w, h = box
    return {
        "mid": mid,
        "type": "rectangle",
        "categories": [{"name": category_key, "confidence": 100}],
        "boundingPoly": [
            {
                "normalizedVertices": [
                    {"x": x, "y": y + h},
                    {"x": x, "y": y},
                    {"x": x + w, "y": y},
                    {"x": x + w, "y": y + h},
                ]
            }
        ],
    }


def annotation_to_box(annotation):
    """A Kili rectangle annotation as ``[x, y, w, h]``."""
    vertices = annotation["boundingPoly"][0]["normalizedVertices"]
    xs = [v["x"] for v in vertices]
    ys = [v["y"] for v in vertices]
    return [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]


def latest_human_label(labels):
    candidates = [label for label in labels or [] if label.get("labelType") in HUMAN_LABEL_TYPES]
    if not candidates:
        return None
    return max(candidates, key=lambda label: label.get("createdAt") or "")


def upload(kili, spec, inputs):
    json_interface = inputs["json_interface"]
    job = inputs["job"]
    key_of = {c["name"]: key for key, c in json_interface["jobs"][job]["content"]["categories"].items()}
    items = inputs["items"]
    project = kili.create_project(
        input_type="IMAGE", json_interface=json_interface, title=spec["title"], description=spec["description"]
    )
    project_id = project["id"]
    created = kili.append_many_to_dataset(
        project_id=project_id,
        content_array=[item["path"] for item in items],
        external_id_array=[item["external_id"] for item in items],
        disable_tqdm=True,
    )
    asset_ids = created["asset_ids"]
    responses = [
        {
            job: {
                "annotations": [
                    box_to_annotation(label["id"], key_of[label["label"]], label["box"]) for label in item["labels"]
                ]
            }
        }
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


def download(kili, project_id, inputs):
    """``{external_id: [(class, [x, y, w, h])]}`` of the assets whose latest
    DEFAULT/REVIEW label exists."""
    job = inputs["job"]
    class_of = {key: c["name"] for key, c in inputs["json_interface"]["jobs"][job]["content"]["categories"].items()}
    assets = kili.assets(
        project_id=project_id,
        fields=[
            "id",
            "externalId",
            "labels.jsonResponse",
            "labels.labelType",
            "labels.createdAt",
            "labels.author.email",
        ],
        disable_tqdm=True,
    )
    out = {}
    for asset in assets:
        label = latest_human_label(asset.get("labels"))
        if label is None:
            continue
        response = label.get("jsonResponse") or {}
        if isinstance(response, str):
            response = json.loads(response) if response else {}
        annotations = (response.get(job) or {}).get("annotations") or []
        out[asset["externalId"]] = [
            (class_of.get(a["categories"][0]["name"]), annotation_to_box(a))
            for a in annotations
            if a.get("type") == "rectangle"
        ]
    return out, len(assets)


# --- the measured run ---------------------------------------------------------


def run(spec, out):
    meter = Meter(path_key=storage_path_key)
    out.update(phases=meter.phases, server={})
    emulator = EmulatorControl(spec["url"], spec["api_key"])
    with open(spec["inputs"]) as f:
        inputs = json.load(f)  # the paths and boxes, in memory before anything is timed
    kili = None
    project_id = None
    try:

        def measure(phase, func):
            emulator.reset_stats()
            try:
                return meter.measure(phase, func)
            finally:
                out["server"][phase] = emulator.stats()

        import importlib

        Kili = measure("import", lambda: importlib.import_module("kili.client")).Kili

        kili = measure(
            "connect",
            lambda: Kili(
                api_key=spec["api_key"],
                api_endpoint=spec["url"],
                graphql_client_params={"graphql_schema_cache_dir": spec["schema_cache_dir"]},
                disable_tqdm=True,
            ),
        )
        if spec.get("connect_only"):
            return
        project_id, asset_ids = measure("upload", lambda: upload(kili, spec, inputs))
        out["project_id"] = project_id
        out["assets"] = len(asset_ids)

        index_of = {item["external_id"]: item["index"] for item in inputs["items"]}
        out["annotator"] = pause_for_parent(
            {"project_id": project_id, "assets": {a: item["index"] for a, item in zip(asset_ids, inputs["items"])}}
        )

        boxes, found = measure("download", lambda: download(kili, project_id, inputs))
        out["assets_downloaded"] = found
        out["assets_with_label"] = len(boxes)
        out["labels_after_load"] = sum(len(v) for v in boxes.values())
        # untimed: the same per-image summary as the FiftyOne side's sanity check
        out["summary"] = {
            str(index_of[e]): sorted([label, [round(v, 4) for v in box]] for label, box in items)
            for e, items in boxes.items()
        }
        measure("cleanup", lambda: kili.delete_project(project_id))
        project_id = None
    finally:
        meter.stop()
        if project_id is not None and kili is not None:
            try:
                kili.delete_project(project_id)
            except Exception:
                pass


def main(spec_path, out_path):
    with open(spec_path) as f:
        spec = json.load(f)
    out = {"started": time.time()}
    try:
        run(spec, out)
    except BaseException as e:
        out["error"] = "%s: %s" % (type(e).__name__, e)
        out["traceback"] = traceback.format_exc()
    out["ru_maxrss_mb"] = max_rss_mb()
    try:
        from importlib import metadata

        out["kili_version"] = metadata.version("kili")
    except Exception:
        out["kili_version"] = "?"
    with open(out_path, "w") as f:
        json.dump(out, f, indent=1)
    return 1 if "error" in out else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
