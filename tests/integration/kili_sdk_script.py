"""Drives the official Kili SDK against a Kili emulator.

Run by ``test_kili_official_sdk.py`` with the SDK's own virtual environment
(``.cache/kili-sdk-venv``), not ours::

    python kili_sdk_script.py CONFIG.json

The config gives ``url``, ``api_key``, ``work_dir``, ``local_images`` (paths),
``http_images`` (URLs), and optionally ``local_video`` (an mp4) and
``broken_video`` (an .mp4 that does not decode) for the native video steps. The script prints one JSON object (what each step
returned) on its last stdout line; any failure is an exception (exit code 1).
"""

import json
import os
import sys
import time
import warnings

from kili.client import Kili
from kili.exceptions import AuthenticationFailed

JSON_INTERFACE = {
    "jobs": {
        "OBJECT_DETECTION_JOB": {
            "mlTask": "OBJECT_DETECTION",
            "tools": ["rectangle"],
            "instruction": "Boxes",
            "required": 0,
            "isChild": False,
            "content": {
                "input": "radio",
                "categories": {
                    "CAR": {"name": "car", "children": ["COLOR_JOB"]},
                    "PERSON": {"name": "person", "children": []},
                },
            },
        },
        "COLOR_JOB": {
            "mlTask": "CLASSIFICATION",
            "instruction": "Color",
            "required": 0,
            "isChild": True,
            "content": {"input": "radio", "categories": {"RED": {"name": "red"}, "BLUE": {"name": "blue"}}},
        },
    }
}


def box(mid, xmin, ymin, xmax, ymax, category="CAR", color="RED"):
    """A rectangle annotation (vertices: bottom-left, top-left, top-right, bottom-right)."""
    annotation = {
        "mid": mid,
        "type": "rectangle",
        "categories": [{"name": category}],
        "boundingPoly": [
            {
                "normalizedVertices": [
                    {"x": xmin, "y": ymax},
                    {"x": xmin, "y": ymin},
                    {"x": xmax, "y": ymin},
                    {"x": xmax, "y": ymax},
                ]
            }
        ],
    }
    if category == "CAR":
        annotation["children"] = {"COLOR_JOB": {"categories": [{"name": color}]}}
    return annotation


VIDEO_INTERFACE = {
    "jobs": {
        "TRACK_JOB": {
            "mlTask": "OBJECT_DETECTION",
            "tools": ["rectangle"],
            "instruction": "Tracks",
            "required": 0,
            "isChild": False,
            "content": {"input": "radio", "categories": {"CAR": {"name": "car"}, "PERSON": {"name": "person"}}},
        },
        "SCENE_JOB": {
            "mlTask": "CLASSIFICATION",
            "instruction": "Scene",
            "required": 0,
            "isChild": False,
            "content": {"input": "radio", "categories": {"DAY": {"name": "day"}, "NIGHT": {"name": "night"}}},
        },
    }
}


def video_response(frames):
    """A frame-keyed jsonResponse: track "t1" on frames 0-2 (keyframes 0 and 2), a scene class on every frame."""
    response = {}
    for i in range(frames):
        frame = {"SCENE_JOB": {"categories": [{"name": "DAY"}], "isKeyFrame": i == 0}}
        if i <= 2:
            annotation = box("t1", 0.1 + 0.05 * i, 0.2, 0.4 + 0.05 * i, 0.6)
            annotation.update(isKeyFrame=i != 1, children={})
            frame["TRACK_JOB"] = {"annotations": [annotation]}
        response[str(i)] = frame
    response["0"]["ANNOTATION_JOB_COUNTER"] = {"TRACK_JOB": {"CAR": 1}}
    response["0"]["ANNOTATION_NAMES_JOB"] = {"t1": "car 1"}
    return response


def video_round_trip(kili, config):
    """A VIDEO project: a local mp4 imported as native video (asynchronously:
    the SDK waits on its notification), read back, labelled per frame."""
    out = {}
    project_id = kili.create_project(
        input_type="VIDEO", json_interface=VIDEO_INTERFACE, title="SDK video", description="native video"
    )["id"]
    out["project_id"] = project_id
    out["append"] = kili.append_many_to_dataset(
        project_id=project_id,
        content_array=[config["local_video"]],
        external_id_array=["video-0"],
        json_metadata_array=[{"source": "local"}],
    )
    assets = kili.assets(
        project_id=project_id,
        fields=["id", "externalId", "content", "jsonMetadata", "resolution.width", "resolution.height"],
    )
    out["assets"] = assets
    frames = assets[0]["jsonMetadata"]["processingParameters"]["numberOfFrames"]
    out["appended_labels"] = kili.append_labels(
        asset_id_array=[assets[0]["id"]],
        json_response_array=[video_response(frames)],
        label_type="DEFAULT",
        project_id=project_id,
    )
    out["labels"] = kili.labels(project_id=project_id, fields=["id", "assetId", "labelType", "jsonResponse"])
    parsed = kili.labels(project_id=project_id, output_format="parsed_label")
    track = parsed[0].jobs["TRACK_JOB"]
    out["parsed"] = {
        "frames": len(track.frames) if hasattr(track, "frames") else None,
        "scene_frame_0": parsed[0].jobs["SCENE_JOB"].frames[0].category.name,
        "track_frame_2_mid": track.frames[2].annotations[0].mid,
    }
    # a file the SDK takes (an .mp4) but that does not decode: the notification fails
    try:
        kili.append_many_to_dataset(
            project_id=project_id, content_array=[config["broken_video"]], external_id_array=["broken-0"]
        )
        out["broken"] = "accepted"
    except Exception as e:  # the SDK's BatchImportError
        out["broken"] = "%s: %s" % (type(e).__name__, str(e)[:120])
    out["count_assets"] = kili.count_assets(project_id=project_id)
    out["deleted_project"] = kili.delete_project(project_id)
    return out


def main(config_path):
    with open(config_path) as f:
        config = json.load(f)
    url, api_key = config["url"], config["api_key"]
    cache_dir = os.path.join(config["work_dir"], "kili-schema-cache")
    out = {}

    # a wrong key fails the start-up check at once (no retry loop)
    start = time.monotonic()
    try:
        Kili(api_key="not-the-key", api_endpoint=url, graphql_client_params={"graphql_schema_cache_dir": cache_dir})
        out["wrong_key"] = "accepted"
    except AuthenticationFailed as e:
        out["wrong_key"] = "AuthenticationFailed: %s" % str(e)[:200]
    out["wrong_key_seconds"] = time.monotonic() - start

    # the full start-up handshake: viewer, version, introspection, apiKeys
    kili = Kili(
        api_key=api_key,
        api_endpoint=url,
        graphql_client_params={"graphql_schema_cache_dir": cache_dir},
        disable_tqdm=True,
    )

    annotator = kili.create_user(
        email="annotator@example.com", password="not-used", organization_role="USER", firstname="Ann", lastname="Otator"
    )
    out["annotator_id"] = annotator["id"]

    project = kili.create_project(
        input_type="IMAGE", json_interface=JSON_INTERFACE, title="SDK round trip", description="emulator test"
    )
    project_id = project["id"]
    out["project_id"] = project_id
    out["projects"] = kili.projects(project_id=project_id, fields=["id", "title", "inputType", "jsonInterface"])

    local = config["local_images"]
    created_local = kili.append_many_to_dataset(
        project_id=project_id,
        content_array=local,
        external_id_array=["local-%d" % i for i in range(len(local))],
        json_metadata_array=[{"source": "local", "index": i} for i in range(len(local))],
    )
    out["local_asset_ids"] = created_local["asset_ids"]

    hosted = config["http_images"]
    created_hosted = kili.append_many_to_dataset(
        project_id=project_id,
        content_array=hosted,
        external_id_array=["hosted-%d" % i for i in range(len(hosted))],
    )
    out["hosted_asset_ids"] = created_hosted["asset_ids"]

    # appending the same external ids again: the SDK filters them out
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        try:
            kili.append_many_to_dataset(project_id=project_id, content_array=hosted[:1], external_id_array=["hosted-0"])
            out["duplicate_append"] = "accepted"
        except Exception as e:  # the SDK's ImportValidationError
            out["duplicate_append"] = type(e).__name__

    asset_ids = out["local_asset_ids"] + out["hosted_asset_ids"]
    responses = [
        {"OBJECT_DETECTION_JOB": {"annotations": [box("box-%d" % i, 0.1, 0.2, 0.5, 0.6)]}}
        for i in range(len(asset_ids))
    ]
    labels = kili.append_labels(
        asset_id_array=asset_ids,
        json_response_array=responses,
        author_id_array=[annotator["id"]] * len(asset_ids),
        label_type="DEFAULT",
        project_id=project_id,
        seconds_to_label_array=[12] * len(asset_ids),
    )
    out["appended_labels"] = labels
    out["prediction"] = kili.append_labels(
        asset_id_array=asset_ids[:1],
        json_response_array=[{"OBJECT_DETECTION_JOB": {"annotations": [box("pred-0", 0.0, 0.0, 0.3, 0.3, "PERSON")]}}],
        label_type="PREDICTION",
        model_name="model-1",
        project_id=project_id,
    )

    out["assets"] = kili.assets(
        project_id=project_id,
        fields=[
            "id",
            "externalId",
            "content",
            "status",
            "jsonMetadata",
            "resolution.width",
            "resolution.height",
            "labels.id",
            "labels.labelType",
            "labels.jsonResponse",
            "labels.author.email",
            "labels.isLatestLabelForUser",
            "latestLabel.id",
        ],
    )
    out["labels"] = kili.labels(
        project_id=project_id,
        fields=["id", "assetId", "labelType", "jsonResponse", "author.id", "author.email", "createdAt", "modelName"],
    )
    out["default_labels"] = kili.labels(project_id=project_id, type_in=["DEFAULT"], fields=["id"])
    out["count_assets"] = kili.count_assets(project_id=project_id)
    out["count_labeled"] = kili.count_assets(project_id=project_id, status_in=["LABELED"])
    out["count_labels"] = kili.count_labels(project_id=project_id)

    kili.update_properties_in_assets(
        asset_ids=asset_ids[:2],
        consensus_marks=[0.25, 0.75],
        honeypot_marks=[0.5, 0.9],
        json_metadatas=[{"updated": True}, {"updated": True}],
    )
    out["consensus_gte_half"] = kili.assets(
        project_id=project_id, consensus_mark_gte=0.5, fields=["id", "consensusMark", "honeypotMark", "jsonMetadata"]
    )
    out["by_external_id"] = kili.assets(
        project_id=project_id, external_id_strictly_in=["hosted-0"], fields=["id", "externalId"]
    )
    out["paged"] = [a["externalId"] for a in kili.assets(project_id=project_id, first=2, skip=1, fields=["externalId"])]

    out["deleted"] = kili.delete_many_from_dataset(asset_ids=asset_ids[-1:])
    out["count_after_delete"] = kili.count_assets(project_id=project_id)

    out["deleted_project"] = kili.delete_project(project_id)
    out["projects_after_delete"] = kili.count_projects(project_id=project_id)

    if config.get("local_video"):
        out["video"] = video_round_trip(kili, config)

    # without the start-up check, a wrong key fails the first call at once:
    # the 401 body has "errors", so the SDK does not retry it for 120 s
    os.environ["KILI_SDK_SKIP_CHECKS"] = "1"
    start = time.monotonic()
    try:
        Kili(api_key="not-the-key", api_endpoint=url).count_projects()
        out["wrong_key_skip_checks"] = "accepted"
    except Exception as e:
        out["wrong_key_skip_checks"] = "%s: %s" % (type(e).__name__, str(e)[:200])
    out["wrong_key_skip_checks_seconds"] = time.monotonic() - start
    del os.environ["KILI_SDK_SKIP_CHECKS"]
    print(json.dumps(out, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
