"""Drives the official FastLabel SDK (``fastlabel`` 0.26.0) against a FastLabel
emulator.

Run by ``test_fastlabel_official_sdk.py`` with the SDK's own virtual
environment (``.cache/fastlabel-sdk-venv``), not ours::

    FASTLABEL_API_URL=<url ending in /v1/> FASTLABEL_ACCESS_TOKEN=<key> \\
        python fastlabel_sdk_script.py CONFIG.json

The config gives ``control_url`` (the emulator's ``/_emulator/``) and
``images`` (``png0``, ``png1``, ``jpg``, ``gif`` paths). The script prints one
JSON object (what each step returned) on its last stdout line; any unexpected
failure is an exception (exit code 1).
"""

import copy
import json
import os
import sys

import fastlabel
import requests
from fastlabel.exceptions import FastLabelException

KIND = {"type": "text", "name": "Kind", "key": "kind"}
SIZE = {
    "type": "select",
    "name": "Size",
    "key": "size",
    "options": [{"title": "Large", "value": "large"}, {"title": "Small", "value": "small"}],
}
WEATHER = {
    "type": "radio",
    "name": "Weather",
    "key": "weather",
    "options": [{"title": "Sunny", "value": "sunny"}, {"title": "Rainy", "value": "rainy"}],
}
SQUARE = [10, 10, 20, 10, 20, 20, 10, 20, 10, 10]


def error(function):
    """What a call that should fail raised: ``{"type", "code", "message"}``."""
    try:
        function()
    except FastLabelException as e:
        return {"type": type(e).__name__, "code": e.code, "message": str(e.message)}
    return "accepted"


def names(tasks):
    return [t["name"] for t in tasks]


def main(config_path):
    with open(config_path) as f:
        config = json.load(f)
    images = config["images"]
    control = config["control_url"]
    token = os.environ["FASTLABEL_ACCESS_TOKEN"]
    out = {}

    # a wrong token: a 401 with a message, raised as FastLabelInvalidException
    out["wrong_key"] = error(lambda: fastlabel.Client("not-the-token").get_projects())

    client = fastlabel.Client()  # FASTLABEL_ACCESS_TOKEN and FASTLABEL_API_URL

    # projects
    all_id = client.create_project(type="image_all", name="SDK all", slug="sdk-all")
    bbox_id = client.create_project(type="image_bbox", name="SDK bbox", slug="sdk-bbox")
    cls_id = client.create_project(type="image_classification", name="SDK cls", slug="sdk-cls")
    out["project_ids"] = [all_id, bbox_id, cls_id]
    out["find_project"] = client.find_project(all_id)
    out["find_project_by_slug"] = client.find_project_by_slug("sdk-bbox")
    out["find_missing_slug"] = client.find_project_by_slug("nothing")
    out["duplicate_project"] = error(lambda: client.create_project(type="image_bbox", name="x", slug="sdk-bbox"))

    # annotation classes
    classes = {
        "cat": client.create_annotation(
            project="sdk-all", type="bbox", value="cat", title="Cat", color="#FF0000", attributes=[KIND, SIZE]
        ),
        "road": client.create_annotation(project="sdk-all", type="polygon", value="road", title="Road"),
        "sky": client.create_annotation(
            project="sdk-all", type="segmentation", value="sky", title="Sky", max_area_count=None
        ),
        "scene": client.create_annotation(
            project="sdk-all", type="classification", value="scene", title="Scene", attributes=[WEATHER]
        ),
        "car": client.create_annotation(project="sdk-bbox", type="bbox", value="car", title="Car"),
    }
    out["class_ids"] = classes
    out["classification_class"] = client.create_classification_annotation(project="sdk-cls", attributes=[WEATHER])
    out["annotations"] = client.get_annotations(project="sdk-all")
    out["find_annotation_by_value"] = client.find_annotation_by_value(project="sdk-all", value="cat")
    out["find_annotation"] = client.find_annotation(classes["sky"])
    out["update_annotation"] = client.update_annotation(annotation_id=classes["road"], title="Main road")
    out["wrong_type_class"] = error(
        lambda: client.create_annotation(project="sdk-bbox", type="polygon", value="p", title="P")
    )

    # image tasks, from files, with annotations, tags, priority, metadata, assignee
    annotations = [
        {
            "type": "bbox",
            "value": "cat",
            "points": [5, 6, 30, 40],
            "rotation": 10,
            "attributes": [{"key": "kind", "value": "tabby"}, {"key": "size", "value": "small"}],
        },
        {"type": "polygon", "value": "road", "points": [0, 0, 20, 0, 20, 10], "attributes": []},
        {"type": "segmentation", "value": "sky", "points": [[SQUARE], [SQUARE]], "attributes": []},
        {"type": "classification", "value": "scene", "attributes": [{"key": "weather", "value": "sunny"}]},
    ]
    t0 = client.create_image_task(
        project="sdk-all",
        name="local0.png",
        file_path=images["png0"],
        tags=["run-1", "batch-a"],
        priority=20,
        metadatas=[{"key": "source", "value": "sdk"}],
        annotations=copy.deepcopy(annotations),
        assignee="emulator-admin",
    )
    t1 = client.create_image_task(project="sdk-all", name="local1.jpg", file_path=images["jpg"], tags=["run-1"])
    t2 = client.create_image_task(project="sdk-all", name="local2.png", file_path=images["png1"], tags=["run-2"])
    tb = client.create_image_task(
        project="sdk-bbox",
        name="box.png",
        file_path=images["png1"],
        annotations=[{"type": "bbox", "value": "car", "points": [1, 1, 8, 8]}],
    )
    out["task_ids"] = [t0, t1, t2, tb]
    out["duplicate_task"] = error(
        lambda: client.create_image_task(project="sdk-all", name="local0.png", file_path=images["png0"])
    )
    out["unknown_class"] = error(
        lambda: client.create_image_task(
            project="sdk-all",
            name="bad.png",
            file_path=images["png0"],
            annotations=[{"type": "bbox", "value": "dog", "points": [1, 2, 3, 4]}],
        )
    )
    out["gif_refused_by_sdk"] = error(
        lambda: client.create_image_task(project="sdk-all", name="x.gif", file_path=images["gif"])
    )

    task = client.find_image_task(t0)
    out["task0"] = task
    with open(images["png0"], "rb") as f:
        png0 = f.read()
    out["task0_url_serves_the_image"] = requests.get(task["url"], timeout=30).content == png0
    out["by_name"] = client.find_image_task_by_name(project="sdk-all", task_name="local1.jpg")["id"]
    out["by_missing_name"] = client.find_image_task_by_name(project="sdk-all", task_name="none.png")
    out["run1"] = names(client.get_image_tasks(project="sdk-all", tags=["run-1"]))
    out["run1_and_batch_a"] = names(client.get_image_tasks(project="sdk-all", tags=["run-1", "batch-a"]))
    # the SDK README's paging loop, two at a time
    everything, offset = [], None
    while True:
        page = client.get_image_tasks(project="sdk-all", offset=offset, limit=2)
        everything.extend(page)
        if not page:
            break
        offset = len(everything)
    out["paged"] = names(everything)
    out["limit_over_1000"] = error(lambda: client.get_image_tasks(project="sdk-all", limit=1001))

    # an annotator's edit through the SDK: it strips ids, so all are new
    edited = copy.deepcopy(task["annotations"][:2])
    edited[0]["points"] = [6, 7, 31, 41]
    out["update_image_task"] = client.update_image_task(t0, status="completed", annotations=edited)
    out["task0_after"] = client.find_image_task(t0)

    out["count_all"] = client.count_tasks(project="sdk-all")
    out["count_completed"] = client.count_tasks(project="sdk-all", status="completed")
    out["count_run1"] = client.count_tasks(project="sdk-all", tags=["run-1"])
    out["count_run1_completed"] = client.count_tasks(project="sdk-all", status="completed", tags=["run-1"])
    out["tags_added"] = client.add_task_tags(project="sdk-all", task_ids=[t0, t1, t2, t0], tags=["seen"])
    out["tags_added_again"] = client.add_task_tags(project="sdk-all", task_ids=[t0, t1, t2], tags=["seen"])
    out["tags_removed"] = client.remove_task_tags(project="sdk-all", task_ids=[t0, t1], tags=["run-1"])
    out["foreign_task_tags"] = error(lambda: client.add_task_tags(project="sdk-all", task_ids=[tb], tags=["x"]))
    out["update_task"] = client.update_task(t1, priority=30, tags=["extra"])
    out["id_name_map"] = client.get_task_id_name_map(project="sdk-all")
    out["users"] = client.get_workspace_users()

    # image classification
    c0 = client.create_image_classification_task(
        project="sdk-cls",
        name="c0.png",
        file_path=images["png0"],
        attributes=[{"key": "weather", "value": "sunny"}],
        tags=["run-1"],
    )
    client.create_image_classification_task(project="sdk-cls", name="c1.jpg", file_path=images["jpg"])
    out["classification_task_id"] = c0
    out["classification_tasks"] = client.get_image_classification_tasks(project="sdk-cls")
    out["classification_run1"] = names(client.get_image_classification_tasks(project="sdk-cls", tags=["run-1"]))
    out["classification_update"] = client.update_image_classification_task(
        c0, status="completed", attributes=[{"key": "weather", "value": "rainy"}]
    )
    out["classification_find"] = client.find_image_classification_task(c0)
    out["classification_by_name"] = client.find_image_classification_task_by_name(
        project="sdk-cls", task_name="c1.jpg"
    )["name"]

    # deletions
    client.delete_task_annotations(t0)
    out["task0_after_delete_annotations"] = client.find_image_task(t0)["annotations"]
    client.delete_task(t2)
    out["deleted_task"] = error(lambda: client.find_image_task(t2))
    client.delete_annotation(classes["road"])
    out["annotations_after_delete"] = [a["value"] for a in client.get_annotations(project="sdk-all", limit=100)]

    # a 429 reaches the caller as an error: the SDK does not retry
    headers = {"Authorization": "Bearer " + token}
    knobs = {"rate_limit": 1.0, "retry_after": 3, "fault_operations": ["GET tasks/count"]}
    requests.post(control + "faults", json=knobs, headers=headers, timeout=30).raise_for_status()
    out["rate_limited"] = error(lambda: client.count_tasks(project="sdk-all"))
    requests.post(
        control + "faults", json={"rate_limit": 0.0, "fault_operations": None}, headers=headers, timeout=30
    ).raise_for_status()

    for project_id in (all_id, bbox_id, cls_id):
        client.delete_project(project_id)
    out["deleted_project"] = error(lambda: client.find_project(all_id))
    out["projects_after"] = client.get_projects()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
