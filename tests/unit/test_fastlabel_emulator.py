"""The FastLabel emulator over real sockets, with plain ``requests``: every
endpoint, bare-string ids and bare-integer counts, ``message`` errors, auth,
paging and repeated tags, image checks, annotation formats and id keeping,
faults, the call budget, control endpoints and the command line."""

import base64
import io
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from PIL import Image

from fo_annotation_backends.testing.fastlabel import FastLabelEmulator
from fo_annotation_backends.testing.fastlabel.server import OPERATIONS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

KIND = {"type": "text", "name": "Kind", "key": "kind"}
SIZE = {
    "type": "select",
    "name": "Size",
    "key": "size",
    "options": [{"title": "Large", "value": "large"}, {"title": "Small", "value": "small"}],
}
TAGS = {
    "type": "checkbox",
    "name": "Tags",
    "key": "tags",
    "options": [{"title": "A", "value": "a"}, {"title": "B", "value": "b"}],
}
OCCLUDED = {"type": "switch", "name": "Occluded", "key": "occluded"}
WEATHER = {
    "type": "radio",
    "name": "Weather",
    "key": "weather",
    "options": [{"title": "Sunny", "value": "sunny"}, {"title": "Rainy", "value": "rainy"}],
}
SQUARE = [10, 10, 20, 10, 20, 20, 10, 20, 10, 10]


# -- helpers ---------------------------------------------------------------------------------


def call(emulator, method, path, key=None, auth=True, **kwargs):
    """The raw response of ``METHOD <url>/v1/<path>``."""
    headers = kwargs.pop("headers", {})
    if auth:
        headers["Authorization"] = "Bearer %s" % (key or emulator.api_key)
    return requests.request(method, emulator.url + path, headers=headers, timeout=10, **kwargs)


def ok(response):
    """The JSON of a 200 answer."""
    assert response.status_code == 200, (response.status_code, response.text)
    return response.json()


def refused(response, status=400, contains=None):
    """The ``message`` of an error answer."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"message"} and isinstance(body["message"], str), body
    if contains:
        assert contains in body["message"], body["message"]
    return body["message"]


def image_bytes(size=(40, 30), fmt="PNG", color=(10, 20, 30)):
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format=fmt)
    return buffer.getvalue()


def b64(data):
    return base64.b64encode(data).decode("ascii")


def create_project(emulator, slug="proj", project_type="image_all", name="Project"):
    response = call(
        emulator,
        "POST",
        "projects",
        json={
            "type": project_type,
            "name": name,
            "slug": slug,
            "workflow": "two_step",
            "externalWorkflow": "two_step",
            "jobSize": 10,
        },
    )
    project_id = ok(response)
    assert isinstance(project_id, str) and len(project_id) == 36
    return project_id


def create_class(emulator, project="proj", class_type="bbox", value="cat", title=None, **extra):
    body = dict({"project": project, "type": class_type, "value": value, "title": title or value.title()}, **extra)
    class_id = ok(call(emulator, "POST", "annotations", json=body))
    assert isinstance(class_id, str)
    return class_id


def create_task(emulator, project="proj", name="a.png", data=None, **extra):
    body = dict({"project": project, "name": name, "file": b64(data or image_bytes())}, **extra)
    task_id = ok(call(emulator, "POST", "tasks/image", json=body))
    assert isinstance(task_id, str)
    return task_id


def get_task(emulator, task_id):
    return ok(call(emulator, "GET", "tasks/image/" + task_id))


def bbox(points=(1, 2, 30, 20), value="cat", **extra):
    return dict({"type": "bbox", "value": value, "points": list(points), "attributes": []}, **extra)


@pytest.fixture
def emulator():
    with FastLabelEmulator(api_key="unit-key") as emu:
        yield emu


@pytest.fixture
def project(emulator):
    """An image_all project ``proj`` with a ``cat`` bbox class (attributes
    kind, size, tags, occluded)."""
    project_id = create_project(emulator)
    create_class(emulator, attributes=[KIND, SIZE, TAGS, OCCLUDED])
    return project_id


@pytest.fixture
def all_classes(emulator, project):
    """Classes of every type in ``proj``."""
    create_class(emulator, class_type="polygon", value="road")
    create_class(emulator, class_type="line", value="lane")
    create_class(emulator, class_type="keypoint", value="eye")
    create_class(emulator, class_type="circle", value="ball")
    create_class(emulator, class_type="segmentation", value="sky")
    create_class(emulator, class_type="segmentation", value="trees", maxAreaCount=None)
    create_class(emulator, class_type="classification", value="scene", attributes=[WEATHER])
    create_class(
        emulator,
        class_type="pose_estimation",
        value="person",
        keypoints=[
            {"key": "head", "name": "Head", "edges": ["neck"]},
            {"key": "neck", "name": "Neck", "edges": ["head"]},
        ],
    )


# -- transport, auth, routing -------------------------------------------------------------------


def test_url_and_bearer_auth_on_every_method(emulator):
    assert emulator.url.startswith("http://127.0.0.1:") and emulator.url.endswith("/v1/")
    for method in ("GET", "POST", "PUT", "DELETE"):
        refused(call(emulator, method, "projects/x", auth=False), 401, "Bearer")
        refused(call(emulator, method, "projects/x", key="wrong"), 401)
    # only the Bearer scheme is FastLabel's
    refused(call(emulator, "GET", "projects", auth=False, headers={"X-API-Key": "unit-key"}), 401)
    refused(call(emulator, "GET", "projects", auth=False, headers={"Authorization": "Token unit-key"}), 401)
    assert ok(call(emulator, "GET", "projects")) == []
    assert emulator.stats()["statuses"]["401"] == 10


def test_unknown_paths_bad_json_and_unknown_fields(emulator):
    refused(call(emulator, "GET", "nothing/here"), 404, "Cannot GET")
    refused(call(emulator, "PATCH", "projects"), 404)
    assert requests.get(emulator.base_url + "/elsewhere", timeout=10).status_code == 404
    refused(
        call(emulator, "POST", "projects", data=b"{not json", headers={"Content-Type": "application/json"}), 400, "JSON"
    )
    refused(call(emulator, "POST", "projects", json=["a"]), 400, "JSON object")
    message = refused(
        call(emulator, "POST", "projects", json={"type": "image_bbox", "name": "n", "slug": "s", "colour": 1})
    )
    assert "colour" in message
    assert emulator.stats()["operations"]["other"] == 3


# -- projects ---------------------------------------------------------------------------------------


def test_project_lifecycle(emulator):
    project_id = create_project(emulator, "first", "image_bbox", "First")
    second = create_project(emulator, "second", "image_all", "Second")
    found = ok(call(emulator, "GET", "projects/" + project_id))
    assert {k: found[k] for k in ("id", "type", "name", "slug", "workflow", "externalWorkflow", "jobSize")} == {
        "id": project_id, "type": "image_bbox", "name": "First", "slug": "first",
        "workflow": "two_step", "externalWorkflow": "two_step", "jobSize": 10,
    }  # fmt: skip
    assert found["createdAt"].endswith("Z")
    assert ok(call(emulator, "GET", "projects", params={"slug": "second", "limit": 100}))[0]["id"] == second
    assert ok(call(emulator, "GET", "projects", params={"slug": "none"})) == []
    assert [p["slug"] for p in ok(call(emulator, "GET", "projects"))] == ["first", "second"]
    assert [p["slug"] for p in ok(call(emulator, "GET", "projects", params={"offset": 1, "limit": 1}))] == ["second"]
    assert ok(call(emulator, "GET", "projects/map/id-slug")) == {project_id: "first", second: "second"}

    refused(call(emulator, "POST", "projects", json={"type": "image_bbox", "name": "n", "slug": "first"}), 409, "first")
    refused(
        call(emulator, "POST", "projects", json={"type": "image_cube", "name": "n", "slug": "x"}), 400, "image_cube"
    )
    refused(
        call(emulator, "POST", "projects", json={"type": "image_bbox", "name": "n", "slug": "Bad Slug"}), 400, "slug"
    )
    refused(call(emulator, "POST", "projects", json={"type": "image_bbox", "slug": "x"}), 400, "name")
    refused(
        call(emulator, "POST", "projects", json={"type": "image_bbox", "name": "n", "slug": "x", "workflow": "one"}),
        400,
    )

    updated = ok(call(emulator, "PUT", "projects/" + project_id, json={"name": "Renamed", "jobSize": 5}))
    assert updated["name"] == "Renamed" and updated["jobSize"] == 5 and updated["updatedAt"] > updated["createdAt"]
    refused(call(emulator, "PUT", "projects/" + project_id, json={"slug": "second"}), 409)

    deleted = call(emulator, "DELETE", "projects/" + project_id)
    assert deleted.status_code == 204 and deleted.content == b""
    refused(call(emulator, "GET", "projects/" + project_id), 404)
    refused(call(emulator, "DELETE", "projects/" + project_id), 404)
    assert [p["slug"] for p in ok(call(emulator, "GET", "projects"))] == ["second"]


def test_delete_status_200_option():
    with FastLabelEmulator(api_key="k", delete_status=200) as emulator:
        project_id = create_project(emulator)
        deleted = call(emulator, "DELETE", "projects/" + project_id)
        assert deleted.status_code == 200 and deleted.content == b""
    with pytest.raises(ValueError):
        FastLabelEmulator(delete_status=201)


def test_deleting_a_project_deletes_its_classes_and_tasks(emulator, project):
    task_id = create_task(emulator)
    url = get_task(emulator, task_id)["url"]
    assert call(emulator, "DELETE", "projects/" + project).status_code == 204
    refused(call(emulator, "GET", "tasks/image/" + task_id), 404)
    assert requests.get(url, timeout=10).status_code == 404
    refused(call(emulator, "GET", "annotations", params={"project": "proj"}), 404)
    assert emulator.state.classes == {} and emulator.state.tasks == {}


# -- annotation classes -------------------------------------------------------------------------------


def test_class_create_find_list_update_delete(emulator, project):
    [cat] = ok(call(emulator, "GET", "annotations", params={"project": "proj"}))
    assert (cat["type"], cat["value"], cat["title"], cat["order"], cat["vertex"]) == ("bbox", "cat", "Cat", 1, 0)
    assert cat["color"].startswith("#") and len(cat["color"]) == 7
    assert [a["key"] for a in cat["attributes"]] == ["kind", "size", "tags", "occluded"]
    size = cat["attributes"][1]
    assert size["type"] == "select" and size["options"] == SIZE["options"] and size["value"] == "" and size["id"]
    assert ok(call(emulator, "GET", "annotations/" + cat["id"])) == cat
    refused(call(emulator, "GET", "annotations/nope"), 404)

    for i in range(11):
        create_class(emulator, value="c%02d" % i, color="#00FF00")
    first = ok(call(emulator, "GET", "annotations", params={"project": "proj"}))
    assert len(first) == 10 and first[0]["value"] == "cat"  # default limit 10, creation order
    rest = ok(call(emulator, "GET", "annotations", params={"project": "proj", "offset": 10, "limit": 1000}))
    assert [c["value"] for c in rest] == ["c09", "c10"] and rest[0]["color"] == "#00ff00"
    assert ok(call(emulator, "GET", "annotations", params={"project": "proj", "offset": 12})) == []
    assert [c["id"] for c in ok(call(emulator, "GET", "annotations", params={"project": "proj", "value": "cat"}))] == [
        cat["id"]
    ]
    refused(call(emulator, "GET", "annotations", params={"project": "proj", "limit": 1001}), 400, "limit")
    refused(call(emulator, "GET", "annotations"), 400, "project")
    refused(call(emulator, "GET", "annotations", params={"project": "nope"}), 404)

    # PUT: attributes given with their id keep it; the answer is the class
    kind = cat["attributes"][0]
    updated = ok(
        call(
            emulator,
            "PUT",
            "annotations/" + cat["id"],
            json={
                "title": "Kitty",
                "attributes": [
                    {"id": kind["id"], "type": "text", "name": "Kind 2", "key": "kind"},
                    KIND | {"key": "other"},
                ],
            },
        )
    )
    assert updated["title"] == "Kitty" and updated["value"] == "cat"
    assert updated["attributes"][0]["id"] == kind["id"] and updated["attributes"][0]["name"] == "Kind 2"
    assert updated["attributes"][1]["id"] not in (a["id"] for a in cat["attributes"])
    refused(call(emulator, "PUT", "annotations/" + cat["id"], json={"value": "c00"}), 409)
    refused(call(emulator, "PUT", "annotations/" + cat["id"], json={"maxAreaCount": 3}), 400, "segmentation")

    assert call(emulator, "DELETE", "annotations/" + cat["id"]).status_code == 204
    refused(call(emulator, "GET", "annotations/" + cat["id"]), 404)


def test_class_refusals(emulator, project):
    create_project(emulator, "boxes", "image_bbox")
    refused(
        call(emulator, "POST", "annotations", json={"project": "boxes", "type": "polygon", "value": "p", "title": "P"}),
        400,
        "polygon",
    )
    refused(
        call(emulator, "POST", "annotations", json={"project": "proj", "type": "bbox", "value": "cat", "title": "C"}),
        409,
        "cat",
    )
    refused(
        call(emulator, "POST", "annotations", json={"project": "nope", "type": "bbox", "value": "x", "title": "X"}), 404
    )
    refused(call(emulator, "POST", "annotations", json={"project": "proj", "type": "bbox", "value": "x"}), 400, "title")
    no_options = {"type": "select", "name": "S", "key": "s"}
    refused(
        call(
            emulator,
            "POST",
            "annotations",
            json={"project": "proj", "type": "bbox", "value": "x", "title": "X", "attributes": [no_options]},
        ),
        400,
        "options",
    )
    twice = [KIND, KIND]
    refused(
        call(
            emulator,
            "POST",
            "annotations",
            json={"project": "proj", "type": "bbox", "value": "x", "title": "X", "attributes": twice},
        ),
        400,
        "twice",
    )
    refused(
        call(
            emulator,
            "POST",
            "annotations",
            json={"project": "proj", "type": "bbox", "value": "x", "title": "X", "color": "red"},
        ),
        400,
        "color",
    )
    refused(
        call(
            emulator,
            "POST",
            "annotations",
            json={"project": "proj", "type": "segmentation", "value": "x", "title": "X", "maxAreaCount": 0},
        ),
        400,
        "maxAreaCount",
    )
    refused(
        call(
            emulator,
            "POST",
            "annotations",
            json={"project": "proj", "type": "pose_estimation", "value": "x", "title": "X"},
        ),
        400,
        "keypoints",
    )
    # only the classes of a bbox project
    assert create_class(emulator, project="boxes", value="car")


def test_segmentation_and_pose_classes(emulator, project, all_classes):
    classes = {
        c["value"]: c for c in ok(call(emulator, "GET", "annotations", params={"project": "proj", "limit": 100}))
    }
    assert classes["sky"]["maxAreaCount"] == 1 and classes["trees"]["maxAreaCount"] is None
    assert "maxAreaCount" not in classes["cat"]
    head, neck = classes["person"]["keypoints"]
    assert (head["key"], head["name"], head["edges"], head["value"]) == ("head", "Head", [neck["id"]], [])
    assert classes["scene"]["type"] == "classification"


# -- image tasks: creation and images ------------------------------------------------------------------


def test_create_and_find_image_task(emulator, project):
    png = image_bytes((64, 48))
    task_id = create_task(
        emulator, data=png, tags=["t1", "t2"], priority=20, metadatas=[{"key": "k", "value": "v"}], annotations=[bbox()]
    )
    task = get_task(emulator, task_id)
    assert list(task) == [
        "id", "name", "width", "height", "url", "status", "externalStatus", "priority", "tags", "assignee", "reviewer",
        "approver", "externalAssignee", "externalReviewer", "externalApprover", "annotations", "metadatas", "createdAt", "updatedAt",
    ]  # fmt: skip
    assert (task["id"], task["name"], task["width"], task["height"]) == (task_id, "a.png", 64, 48)
    assert (task["status"], task["externalStatus"], task["priority"], task["tags"]) == (
        "registered",
        "registered",
        20,
        ["t1", "t2"],
    )
    assert task["metadatas"] == [{"key": "k", "value": "v"}] and task["assignee"] is None
    assert task["createdAt"] == task["updatedAt"]

    # the url serves the bytes: signed without a key, or with the key
    signed = requests.get(task["url"], timeout=10)
    assert signed.status_code == 200 and signed.content == png and signed.headers["Content-Type"] == "image/png"
    bare = task["url"].split("?")[0]
    assert requests.get(bare, timeout=10).status_code == 403
    assert requests.get(bare, headers={"Authorization": "Bearer unit-key"}, timeout=10).content == png
    assert requests.get(task["url"][:-4] + "0000", timeout=10).status_code == 403
    assert emulator.stats()["operations"]["GET storage"] == 4

    jpeg = image_bytes((20, 10), "JPEG")
    jpg_task = get_task(emulator, create_task(emulator, name="b.JPEG", data=jpeg))
    assert (jpg_task["width"], jpg_task["height"]) == (20, 10)
    assert requests.get(jpg_task["url"], timeout=10).headers["Content-Type"] == "image/jpeg"
    refused(call(emulator, "GET", "tasks/image/nope"), 404)


def test_image_refusals():
    with FastLabelEmulator(api_key="k", max_file_bytes=2000) as emulator:
        create_project(emulator)
        small = image_bytes((8, 8))
        noisy = Image.frombytes("RGB", (64, 64), os.urandom(64 * 64 * 3))
        buffer = io.BytesIO()
        noisy.save(buffer, format="PNG")
        big = buffer.getvalue()
        assert len(big) > 2000

        def post(name="a.png", file=None, **extra):
            return call(
                emulator,
                "POST",
                "tasks/image",
                json=dict({"project": "proj", "name": name, "file": file if file is not None else b64(small)}, **extra),
            )

        refused(post(name="a"), 400, "extensions")
        refused(post(name="a.gif"), 400, "extensions")
        refused(post(file="data:image/png;base64," + b64(small)), 400, "data:")
        refused(post(file=b64(small)[:-3] + "!!="), 400, "base64")
        refused(post(file=base64.b64encode(small).decode()[:20] + "\n" + b64(small)[20:]), 400, "base64")
        refused(post(file=b64(b"not an image at all")), 400, "decoded")
        refused(post(file=b64(image_bytes((8, 8), "GIF"))), 400, "GIF")
        refused(post(file=b64(small[: len(small) // 2])), 400, "decoded")
        refused(post(file=b64(big)), 400, "2000 bytes")
        refused(post(file=""), 400, "file")
        refused(call(emulator, "POST", "tasks/image", json={"project": "proj", "name": "a.png"}), 400, "file")
        refused(post(project="nope"), 404)
        refused(post(annotation=[]), 400, "annotation")
        assert ok(call(emulator, "GET", "tasks/count", params={"project": "proj"})) == 0
        assert ok(post(name="a.jpg"))  # a PNG named .jpg is accepted


def test_task_names_are_unique_per_project(emulator, project):
    create_task(emulator, name="same.png")
    refused(
        call(emulator, "POST", "tasks/image", json={"project": "proj", "name": "same.png", "file": b64(image_bytes())}),
        409,
        "same.png",
    )
    create_project(emulator, "other")
    assert create_task(emulator, project="other", name="same.png")


def test_task_fields_refused(emulator, project):
    def post(**extra):
        return call(
            emulator,
            "POST",
            "tasks/image",
            json=dict({"project": "proj", "name": "x.png", "file": b64(image_bytes())}, **extra),
        )

    refused(post(status="done"), 400, "status")
    refused(post(externalStatus="nope"), 400, "externalStatus")
    refused(post(priority=15), 400, "priority")
    refused(post(tags="t1"), 400, "tags")
    refused(post(assignee="nobody"), 400, "assignee")
    refused(post(relations=[{"startIndex": 0, "endIndex": 1}]), 400, "relations")
    refused(post(customTaskStatus="workflow_1_completed"), 400, "custom")
    refused(post(metadatas=[{"value": 1}]), 400, "metadatas")
    task = get_task(
        emulator,
        ok(post(status="completed", externalStatus="customer_declined", customTaskStatus="pending", isDeleteExif=True)),
    )
    assert (task["status"], task["externalStatus"]) == ("completed", "customer_declined")


# -- annotations -----------------------------------------------------------------------------------------


def test_every_annotation_type_round_trips(emulator, project, all_classes):
    annotations = [
        bbox(
            (1, 2, 30, 20),
            rotation=15,
            attributes=[
                {"key": "kind", "value": "tabby"},
                {"key": "size", "value": "large"},
                {"key": "tags", "value": ["a", "b"]},
                {"key": "occluded", "value": True},
            ],
            confidenceScore=0.5,
            content="a.png",
        ),
        {"type": "polygon", "value": "road", "points": [0, 0, 10, 0, 10, 10]},
        {"type": "line", "value": "lane", "points": [0, 0, 5.5, 5.5]},
        {"type": "keypoint", "value": "eye", "points": [3, 4]},
        {"type": "circle", "value": "ball", "points": [5, 5, 2]},
        {"type": "segmentation", "value": "sky", "points": [[SQUARE, [12, 12, 14, 12, 14, 14, 12, 12]]]},
        {"type": "segmentation", "value": "trees", "points": [[SQUARE], [SQUARE]]},
        {"type": "classification", "value": "scene", "attributes": [{"key": "weather", "value": "sunny"}]},
        {"type": "pose_estimation", "value": "person", "keypoints": [{"key": "head", "value": [1, 2, 1]}]},
    ]
    task = get_task(emulator, create_task(emulator, annotations=annotations))
    out = task["annotations"]
    assert [a["value"] for a in out] == ["cat", "road", "lane", "eye", "ball", "sky", "trees", "scene", "person"]
    for a in out:
        assert list(a) == [
            "id",
            "type",
            "title",
            "value",
            "color",
            "attributes",
            "points",
            "rotation",
            "keypoints",
            "confidenceScore",
        ]
    assert len({a["id"] for a in out}) == 9
    box = out[0]
    assert (
        box["points"] == [1, 2, 30, 20]
        and box["rotation"] == 15
        and box["confidenceScore"] == 0.5
        and box["title"] == "Cat"
    )
    assert box["attributes"] == [
        {"key": "kind", "name": "Kind", "type": "text", "value": "tabby"},
        {"key": "size", "name": "Size", "type": "select", "value": "large"},
        {"key": "tags", "name": "Tags", "type": "checkbox", "value": ["a", "b"]},
        {"key": "occluded", "name": "Occluded", "type": "switch", "value": True},
    ]
    assert out[1]["rotation"] == 0 and out[1]["confidenceScore"] == -1 and out[1]["keypoints"] == []
    assert out[5]["points"] == annotations[5]["points"]
    assert out[7]["points"] == [] and out[7]["attributes"][0]["value"] == "sunny"
    assert out[8]["points"] == [] and out[8]["keypoints"] == [
        {"key": "head", "name": "Head", "value": [1, 2, 1], "edges": ["neck"]},
        {"key": "neck", "name": "Neck", "value": [], "edges": ["head"]},
    ]


@pytest.mark.parametrize(
    "annotation, message",
    [
        ({"type": "bbox", "value": "dog", "points": [1, 2, 3, 4]}, "dog"),
        ({"type": "polygon", "value": "cat", "points": [1, 2, 3, 4]}, "bbox annotation"),
        ({"value": "cat", "points": [1, 2, 3, 4]}, "None"),
        ({"type": "bbox", "value": "cat", "points": [1, 2, 3]}, "4 numbers"),
        ({"type": "bbox", "value": "cat", "points": [10, 10, 5, 20]}, "top-left"),
        ({"type": "bbox", "value": "cat", "points": [1, 2, 3, "4"]}, "finite numbers"),
        ({"type": "bbox", "value": "cat"}, "required"),
        ({"type": "bbox", "value": "cat", "points": [1, 2, 3, 4], "rotation": "x"}, "rotation"),
        ({"type": "bbox", "value": "cat", "points": [1, 2, 3, 4], "confidenceScore": 2}, "confidenceScore"),
        ({"type": "bbox", "value": "cat", "points": [1, 2, 3, 4], "shape": 1}, "shape"),
        ({"type": "polygon", "value": "road", "points": [0, 0, 1, 1]}, "3 points"),
        ({"type": "polygon", "value": "road", "points": [0, 0, 1, 1, 2, 2, 3]}, "3 points"),
        ({"type": "polygon", "value": "road", "points": [0, 0, 1, 1, 2, 2], "rotation": 5}, "rotation"),
        ({"type": "line", "value": "lane", "points": [0, 0]}, "2 points"),
        ({"type": "keypoint", "value": "eye", "points": [0, 0, 1]}, "[x, y]"),
        ({"type": "circle", "value": "ball", "points": [0, 0, 0]}, "r > 0"),
        ({"type": "segmentation", "value": "sky", "points": SQUARE}, "regions"),
        ({"type": "segmentation", "value": "sky", "points": [[[10, 10, 20, 10, 20, 20, 10, 20]]]}, "closed"),
        ({"type": "segmentation", "value": "sky", "points": [[[10, 10, 20, 10, 10, 10]]]}, "3 points"),
        ({"type": "segmentation", "value": "sky", "points": [[SQUARE], [SQUARE]]}, "maxAreaCount"),
        ({"type": "classification", "value": "scene", "points": [1, 2]}, "no points"),
        (
            {"type": "classification", "value": "scene", "attributes": [{"key": "weather", "value": "snowy"}]},
            "option values",
        ),
        (
            {"type": "pose_estimation", "value": "person", "keypoints": [{"key": "head", "value": [1, 2, 2]}]},
            "visibility",
        ),
        ({"type": "pose_estimation", "value": "person", "keypoints": [{"key": "tail", "value": []}]}, "tail"),
        ({"type": "pose_estimation", "value": "person", "keypoints": [{"key": "head", "value": [1, 2]}]}, "[x, y, v]"),
        ({"type": "bbox", "value": "cat", "points": [1, 2, 3, 4], "keypoints": [{"key": "head"}]}, "keypoints"),
        (
            {"type": "bbox", "value": "cat", "points": [1, 2, 3, 4], "attributes": [{"key": "color", "value": "red"}]},
            "color",
        ),
        (
            {"type": "bbox", "value": "cat", "points": [1, 2, 3, 4], "attributes": [{"key": "size", "value": "huge"}]},
            "huge",
        ),
        (
            {"type": "bbox", "value": "cat", "points": [1, 2, 3, 4], "attributes": [{"key": "tags", "value": "a"}]},
            "checkbox",
        ),
        (
            {
                "type": "bbox",
                "value": "cat",
                "points": [1, 2, 3, 4],
                "attributes": [{"key": "occluded", "value": "yes"}],
            },
            "switch",
        ),
        (
            {"type": "bbox", "value": "cat", "points": [1, 2, 3, 4], "attributes": [{"key": "kind", "value": None}]},
            "text",
        ),
        (
            {
                "type": "bbox",
                "value": "cat",
                "points": [1, 2, 3, 4],
                "attributes": [{"key": "kind", "value": "a"}, {"key": "kind", "value": "b"}],
            },
            "twice",
        ),
    ],
)
def test_annotation_refusals(emulator, project, all_classes, annotation, message):
    response = call(
        emulator,
        "POST",
        "tasks/image",
        json={"project": "proj", "name": "x.png", "file": b64(image_bytes()), "annotations": [annotation]},
    )
    refused(response, 400, message)
    assert ok(call(emulator, "GET", "tasks/count", params={"project": "proj"})) == 0


def test_single_type_projects_take_their_type_only(emulator):
    create_project(emulator, "boxes", "image_bbox")
    create_class(emulator, project="boxes", value="car")
    task_id = create_task(emulator, project="boxes", annotations=[bbox(value="car")])
    assert get_task(emulator, task_id)["annotations"][0]["type"] == "bbox"
    for class_type in ("polygon", "classification", "segmentation"):
        refused(
            call(
                emulator,
                "POST",
                "annotations",
                json={"project": "boxes", "type": class_type, "value": class_type, "title": "T"},
            ),
            400,
        )


def test_put_replaces_annotations_and_keeps_known_ids(emulator, project, all_classes):
    task_id = create_task(
        emulator,
        annotations=[
            bbox((0, 0, 5, 5)),
            bbox((10, 10, 20, 20)),
            {"type": "keypoint", "value": "eye", "points": [1, 1]},
        ],
    )
    first, second, eye = get_task(emulator, task_id)["annotations"]
    other_task = get_task(emulator, create_task(emulator, name="b.png", annotations=[bbox()]))
    stranger = other_task["annotations"][0]["id"]

    edited = dict(first, points=[0, 0, 6, 6], attributes=[{"key": "size", "value": "small"}])  # as returned, edited
    new = bbox((1, 1, 2, 2))
    foreign = dict(bbox((3, 3, 4, 4)), id=stranger)  # an id of another task: a new annotation
    updated = ok(
        call(
            emulator,
            "PUT",
            "tasks/image/" + task_id,
            json={"annotations": [new, edited, foreign, eye], "status": "completed"},
        )
    )
    ids = [a["id"] for a in updated["annotations"]]
    assert ids[1] == first["id"] and ids[3] == eye["id"]
    assert ids[0] not in (first["id"], second["id"], eye["id"]) and ids[2] != stranger and len(set(ids)) == 4
    assert second["id"] not in ids  # replaced list: the one left out is gone
    assert updated["annotations"][1]["points"] == [0, 0, 6, 6]
    assert updated["annotations"][1]["attributes"] == [
        {"key": "size", "name": "Size", "type": "select", "value": "small"}
    ]
    assert updated["status"] == "completed" and updated["updatedAt"] > updated["createdAt"]
    assert get_task(emulator, task_id) == updated
    assert get_task(emulator, other_task["id"])["annotations"][0]["id"] == stranger

    # a refused PUT changes nothing; an id twice is refused
    refused(call(emulator, "PUT", "tasks/image/" + task_id, json={"annotations": [edited, edited]}), 400, "twice")
    refused(
        call(
            emulator, "PUT", "tasks/image/" + task_id, json={"status": "reviewed", "annotations": [bbox((5, 5, 1, 1))]}
        ),
        400,
    )
    assert get_task(emulator, task_id) == updated
    # an empty list empties the task; without "annotations" they stay
    ok(call(emulator, "PUT", "tasks/image/" + task_id, json={"priority": 30}))
    assert len(get_task(emulator, task_id)["annotations"]) == 4
    assert ok(call(emulator, "PUT", "tasks/image/" + task_id, json={"annotations": []}))["annotations"] == []


def test_deleting_a_class_removes_its_annotations(emulator, project, all_classes):
    task_id = create_task(emulator, annotations=[bbox(), {"type": "keypoint", "value": "eye", "points": [1, 1]}])
    [eye_class] = ok(call(emulator, "GET", "annotations", params={"project": "proj", "value": "eye"}))
    assert call(emulator, "DELETE", "annotations/" + eye_class["id"]).status_code == 204
    assert [a["value"] for a in get_task(emulator, task_id)["annotations"]] == ["cat"]


# -- listing, counting, tags --------------------------------------------------------------------------------


def test_task_listing_filters_and_pages(emulator, project):
    ids = [
        create_task(emulator, name="t%d.png" % i, tags=tags)
        for i, tags in enumerate([["a"], ["a", "b"], ["b"], [], ["b", "a", "c"]])
    ]
    ok(call(emulator, "PUT", "tasks/image/" + ids[1], json={"status": "completed"}))
    ok(call(emulator, "PUT", "tasks/image/" + ids[4], json={"status": "completed", "externalStatus": "approved"}))

    def names(**params):
        return [t["name"] for t in ok(call(emulator, "GET", "tasks/image", params=dict({"project": "proj"}, **params)))]

    assert names() == ["t0.png", "t1.png", "t2.png", "t3.png", "t4.png"]
    assert names(tags="a") == ["t0.png", "t1.png", "t4.png"]
    assert names(tags=["a", "b"]) == ["t1.png", "t4.png"]  # repeated: every tag
    assert names(tags=["a", "zzz"]) == []
    assert names(status="completed") == ["t1.png", "t4.png"]
    assert names(status="completed", externalStatus="approved") == ["t4.png"]
    assert names(taskName="t2.png") == ["t2.png"]
    assert names(taskName="t2") == []
    assert names(offset=1, limit=2) == ["t1.png", "t2.png"]
    assert names(offset=4, limit=1000) == ["t4.png"]
    assert names(offset=5) == []
    refused(call(emulator, "GET", "tasks/image", params={"project": "proj", "limit": 1001}), 400, "limit")
    refused(call(emulator, "GET", "tasks/image", params={"project": "proj", "limit": 0}), 400, "limit")
    refused(call(emulator, "GET", "tasks/image", params={"project": "proj", "offset": -1}), 400, "offset")
    refused(call(emulator, "GET", "tasks/image", params={"project": "proj", "offset": "x"}), 400, "offset")
    refused(call(emulator, "GET", "tasks/image", params={"project": "proj", "status": "done"}), 400, "status")
    refused(
        call(emulator, "GET", "tasks/image", params={"project": "proj", "tags": ["t%d" % i for i in range(11)]}),
        400,
        "10 tags",
    )
    refused(call(emulator, "GET", "tasks/image"), 400, "project")
    refused(call(emulator, "GET", "tasks/image", params={"project": "nope"}), 404)

    def count(**params):
        response = call(emulator, "GET", "tasks/count", params=dict({"project": "proj"}, **params))
        assert response.status_code == 200 and response.text.strip().isdigit()
        return response.json()

    assert (count(), count(tags=["a", "b"]), count(status="completed"), count(status="completed", tags="c")) == (
        5,
        2,
        2,
        1,
    )
    assert count(externalStatus="approved") == 1
    assert ok(call(emulator, "GET", "tasks/map/id-name", params={"project": "proj", "limit": 2})) == {
        ids[0]: "t0.png",
        ids[1]: "t1.png",
    }


def test_default_task_page_is_100(emulator, project):
    for i in range(101):
        create_task(emulator, name="p%03d.png" % i, data=image_bytes((2, 2)))
    assert len(ok(call(emulator, "GET", "tasks/image", params={"project": "proj"}))) == 100
    assert [t["name"] for t in ok(call(emulator, "GET", "tasks/image", params={"project": "proj", "offset": 100}))] == [
        "p100.png"
    ]


def test_tags_match_any_option():
    with FastLabelEmulator(api_key="k", tags_match="any") as emulator:
        create_project(emulator)
        create_task(emulator, name="a.png", tags=["a"])
        create_task(emulator, name="b.png", tags=["b"])
        create_task(emulator, name="c.png")
        assert ok(call(emulator, "GET", "tasks/count", params={"project": "proj", "tags": ["a", "b"]})) == 2
    with pytest.raises(ValueError):
        FastLabelEmulator(tags_match="some")


def test_annotation_order_option_lists_a_tasks_annotations_backwards():
    with FastLabelEmulator(api_key="k", annotation_order="reversed") as emulator:
        create_project(emulator)
        create_class(emulator)
        task_id = create_task(emulator, annotations=[bbox((1, 1, 5, 5)), bbox((2, 2, 9, 9))])
        listed = ok(call(emulator, "GET", "tasks/image", params={"project": "proj"}))[0]
        assert [a["points"] for a in listed["annotations"]] == [[2, 2, 9, 9], [1, 1, 5, 5]]
        assert [a["points"] for a in get_task(emulator, task_id)["annotations"]] == [[2, 2, 9, 9], [1, 1, 5, 5]]
        edited = ok(
            call(
                emulator,
                "PUT",
                "tasks/image/" + task_id,
                json={"annotations": [bbox((1, 1, 5, 5)), bbox((3, 3, 4, 4))]},
            )
        )
        assert [a["points"] for a in edited["annotations"]] == [[3, 3, 4, 4], [1, 1, 5, 5]]
    with FastLabelEmulator(api_key="k") as emulator:
        create_project(emulator)
        create_class(emulator)
        task_id = create_task(emulator, annotations=[bbox((1, 1, 5, 5)), bbox((2, 2, 9, 9))])
        assert [a["points"] for a in get_task(emulator, task_id)["annotations"]] == [[1, 1, 5, 5], [2, 2, 9, 9]]
    with pytest.raises(ValueError):
        FastLabelEmulator(annotation_order="random")


def test_tags_add_and_remove(emulator, project):
    ids = [create_task(emulator, name="t%d.png" % i, tags=["old"] if i == 0 else []) for i in range(3)]

    def tags(endpoint, body):
        return ok(call(emulator, "POST", "tasks/tags/" + endpoint, json=dict({"project": "proj"}, **body)))

    assert tags("add", {"taskIds": ids, "tags": ["old", "new"]}) == {"updatedTaskCount": 3}
    assert tags("add", {"taskIds": ids, "tags": ["old", "new"]}) == {"updatedTaskCount": 0}
    assert get_task(emulator, ids[0])["tags"] == ["old", "new"] and get_task(emulator, ids[1])["tags"] == ["old", "new"]
    assert tags("remove", {"taskIds": ids[:2] + ids[:1], "tags": ["old", "never"]}) == {"updatedTaskCount": 2}
    assert tags("remove", {"taskIds": ids[:2], "tags": ["old"]}) == {"updatedTaskCount": 0}
    assert [get_task(emulator, i)["tags"] for i in ids] == [["new"], ["new"], ["old", "new"]]

    create_project(emulator, "other")
    stranger = create_task(emulator, project="other")
    refused(
        call(
            emulator, "POST", "tasks/tags/add", json={"project": "proj", "taskIds": [ids[0], stranger], "tags": ["x"]}
        ),
        400,
        stranger,
    )
    refused(
        call(
            emulator,
            "POST",
            "tasks/tags/add",
            json={"project": "proj", "taskIds": ["t-%d" % i for i in range(5001)], "tags": ["x"]},
        ),
        400,
        "5000",
    )
    refused(
        call(emulator, "POST", "tasks/tags/add", json={"project": "proj", "taskIds": [], "tags": ["x"]}), 400, "taskIds"
    )
    refused(call(emulator, "POST", "tasks/tags/add", json={"project": "proj", "taskIds": ids, "tags": []}), 400, "tags")
    refused(
        call(
            emulator,
            "POST",
            "tasks/tags/add",
            json={"project": "proj", "taskIds": ids, "tags": ["t%d" % i for i in range(21)]},
        ),
        400,
        "20",
    )
    refused(
        call(emulator, "POST", "tasks/tags/add", json={"project": "proj", "taskIds": ids, "tags": ["x" * 141]}),
        400,
        "140",
    )
    assert get_task(emulator, ids[0])["tags"] == ["new"]  # nothing applied by the refusals


def test_5000_ids_pass_the_size_check(emulator, project):
    ids = [create_task(emulator, name="t%d.png" % i, data=image_bytes((2, 2))) for i in range(3)]
    padded = ids + ["missing-%d" % i for i in range(4997)]
    refused(
        call(emulator, "POST", "tasks/tags/add", json={"project": "proj", "taskIds": padded, "tags": ["x"]}),
        400,
        "4997 task id(s)",
    )


# -- other task endpoints, users -----------------------------------------------------------------------------


def test_generic_update_users_and_deletes(emulator, project):
    ann = emulator.add_user("Ann Otator", "ann@example.com")
    assert ann["userSlug"] == "ann" and ann["userName"] == "Ann Otator"
    task_id = create_task(emulator, annotations=[bbox()], assignee=ann["userSlug"])
    assert get_task(emulator, task_id)["assignee"] == "Ann Otator"
    updated = ok(
        call(
            emulator,
            "PUT",
            "tasks/" + task_id,
            json={"priority": 30, "tags": ["x"], "reviewer": "emulator-admin", "assignee": None},
        )
    )
    assert (updated["priority"], updated["tags"], updated["reviewer"], updated["assignee"]) == (
        30,
        ["x"],
        "Emulator Admin",
        None,
    )
    assert len(updated["annotations"]) == 1
    refused(call(emulator, "PUT", "tasks/" + task_id, json={"annotations": []}), 400, "annotations")
    refused(call(emulator, "PUT", "tasks/" + task_id, json={"assignee": "ghost"}), 400, "ghost")
    refused(call(emulator, "PUT", "tasks/nope", json={"priority": 10}), 404)

    deleted = call(emulator, "DELETE", "tasks/%s/task-annotations" % task_id)
    assert deleted.status_code == 204 and deleted.content == b""
    assert get_task(emulator, task_id)["annotations"] == []
    url = get_task(emulator, task_id)["url"]
    assert call(emulator, "DELETE", "tasks/" + task_id).status_code == 204
    refused(call(emulator, "GET", "tasks/image/" + task_id), 404)
    refused(call(emulator, "DELETE", "tasks/" + task_id), 404)
    refused(call(emulator, "DELETE", "tasks/%s/task-annotations" % task_id), 404)
    assert requests.get(url, timeout=10).status_code == 404
    assert create_task(emulator) != task_id  # the name is free again


def test_workspace_users(emulator):
    [admin] = ok(call(emulator, "GET", "workspaces-users"))
    assert (admin["userSlug"], admin["role"], admin["isExternal"]) == ("emulator-admin", "owner", False)
    assert admin["functionResourcePermissions"]["annotation"] is True
    user = ok(
        call(
            emulator,
            "POST",
            "workspaces-users/internal-users",
            json={"name": "Bob", "email": "bob@example.com", "language": "en", "role": "member"},
        )
    )
    assert user["userEmail"] == "bob@example.com" and user["userSlug"] == "bob"
    refused(
        call(
            emulator,
            "POST",
            "workspaces-users/internal-users",
            json={"name": "Bob", "email": "bob@example.com", "language": "en", "role": "member"},
        ),
        409,
    )
    refused(
        call(
            emulator,
            "POST",
            "workspaces-users/internal-users",
            json={"name": "C", "email": "c@example.com", "language": "fr", "role": "member"},
        ),
        400,
        "language",
    )
    assert [u["userName"] for u in ok(call(emulator, "GET", "workspaces-users", params={"keyword": "BOB"}))] == ["Bob"]
    assert (
        ok(
            call(emulator, "PUT", "workspaces-users/internal-users", json={"email": "bob@example.com", "role": "owner"})
        )["role"]
        == "owner"
    )
    ok(call(emulator, "PUT", "workspaces-users/internal-users", json={"email": "bob@example.com", "role": "none"}))
    assert len(ok(call(emulator, "GET", "workspaces-users"))) == 1


def test_image_classification_projects(emulator):
    create_project(emulator, "cls", "image_classification")
    class_id = ok(
        call(emulator, "POST", "annotations/classification", json={"project": "cls", "attributes": [WEATHER, KIND]})
    )
    refused(call(emulator, "POST", "annotations/classification", json={"project": "cls", "attributes": [KIND]}), 409)
    [cls] = ok(call(emulator, "GET", "annotations", params={"project": "cls", "value": "classification"}))
    assert (cls["id"], cls["type"], cls["value"]) == (class_id, "classification", "classification")

    body = {
        "project": "cls",
        "name": "c.png",
        "file": b64(image_bytes()),
        "attributes": [{"key": "weather", "value": "rainy"}],
        "tags": ["t"],
    }
    refused(call(emulator, "POST", "tasks/image", json=body), 400, "tasks/image/classification")
    task_id = ok(call(emulator, "POST", "tasks/image/classification", json=body))
    task = ok(call(emulator, "GET", "tasks/image/classification/" + task_id))
    assert task["attributes"] == [{"key": "weather", "name": "Weather", "type": "radio", "value": "rainy"}]
    assert "annotations" not in task and (task["width"], task["height"]) == (40, 30)
    assert [
        t["id"] for t in ok(call(emulator, "GET", "tasks/image/classification", params={"project": "cls", "tags": "t"}))
    ] == [task_id]
    refused(call(emulator, "GET", "tasks/image", params={"project": "cls"}), 400, "image_classification")
    refused(call(emulator, "GET", "tasks/image/" + task_id), 400, "tasks/image/classification/" + task_id)

    updated = ok(
        call(
            emulator,
            "PUT",
            "tasks/image/classification/" + task_id,
            json={"attributes": [{"key": "kind", "value": "x"}], "status": "completed"},
        )
    )
    assert (
        updated["attributes"] == [{"key": "kind", "name": "Kind", "type": "text", "value": "x"}]
        and updated["status"] == "completed"
    )
    refused(
        call(
            emulator,
            "PUT",
            "tasks/image/classification/" + task_id,
            json={"attributes": [{"key": "weather", "value": "foggy"}]},
        ),
        400,
    )
    refused(call(emulator, "PUT", "tasks/image/" + task_id, json={"status": "completed"}), 400)

    changed = ok(call(emulator, "PUT", "annotations/classification/" + class_id, json={"attributes": [WEATHER]}))
    assert [a["key"] for a in changed["attributes"]] == ["weather"]
    assert ok(call(emulator, "GET", "tasks/image/classification/" + task_id))["attributes"] == []  # kind is gone
    refused(call(emulator, "POST", "annotations/classification", json={"project": "cls", "attributes": []}), 400)
    create_project(emulator, "boxes", "image_bbox")
    refused(call(emulator, "POST", "annotations/classification", json={"project": "boxes", "attributes": [KIND]}), 400)
    assert call(emulator, "DELETE", "tasks/%s/task-annotations" % task_id).status_code == 204


# -- faults ----------------------------------------------------------------------------------------------


def count_tasks(emulator):
    return ok(call(emulator, "GET", "tasks/count", params={"project": "proj"}))


def post_task(emulator, name="f.png"):
    return call(emulator, "POST", "tasks/image", json={"project": "proj", "name": name, "file": b64(image_bytes())})


def test_fault_rate_limit_is_not_processed(emulator, project):
    emulator.set_faults(rate_limit=1.0, retry_after=7)
    response = post_task(emulator)
    assert response.status_code == 429 and response.headers["Retry-After"] == "7"
    assert set(response.json()) == {"message"}
    emulator.reset_faults()
    assert count_tasks(emulator) == 0
    assert emulator.stats()["faults"]["rate_limit"] == 1


def test_fault_server_error_is_not_processed(emulator, project):
    emulator.set_faults(server_error=1.0)
    response = post_task(emulator)
    assert response.status_code == 503 and "message" in response.json()
    emulator.reset_faults()
    assert count_tasks(emulator) == 0


def test_fault_drop_closes_without_processing(emulator, project):
    emulator.set_faults(drop=1.0)
    with pytest.raises(requests.ConnectionError):
        post_task(emulator)
    emulator.reset_faults()
    assert count_tasks(emulator) == 0
    assert emulator.stats()["faults"]["drop"] == 1


def test_fault_lost_response_applies_mutations_only(emulator, project):
    emulator.set_faults(lost_response=1.0)
    with pytest.raises(requests.ConnectionError):
        post_task(emulator)
    assert count_tasks(emulator) == 1  # a GET: answered; the POST was applied
    emulator.reset_faults()
    refused(post_task(emulator), 409)  # the retry finds it there
    assert emulator.stats()["faults"]["lost_response"] == 1


def test_fault_slow(emulator, project):
    emulator.set_faults(slow=1.0, slow_seconds=0.3)
    start = time.monotonic()
    assert count_tasks(emulator) == 0
    assert time.monotonic() - start >= 0.3
    assert emulator.stats()["faults"]["slow"] == 1


def test_fault_operations_use_path_templates(emulator, project):
    task_id = ok(post_task(emulator))
    emulator.set_faults(server_error=1.0, fault_operations=["GET tasks/image/{id}", "GET storage"])
    assert count_tasks(emulator) == 1
    assert call(emulator, "GET", "tasks/image/" + task_id).status_code == 503
    emulator.set_faults(fault_operations=["PUT tasks/image/{id}"])
    url = get_task(emulator, task_id)["url"]
    assert requests.get(url, timeout=10).status_code == 200
    assert call(emulator, "PUT", "tasks/image/" + task_id, json={"status": "completed"}).status_code == 503
    emulator.reset_faults()
    assert get_task(emulator, task_id)["status"] == "registered"


def test_fail_after_starts_an_outage(emulator, project):
    emulator.set_faults(fail_after=2)
    assert count_tasks(emulator) == 0
    assert count_tasks(emulator) == 0
    for _ in range(3):
        assert call(emulator, "GET", "tasks/count", params={"project": "proj"}).status_code == 503
    emulator.set_faults(fail_after=None)
    assert count_tasks(emulator) == 0
    assert emulator.stats()["faults"]["outage"] == 3


def test_faults_are_seeded():
    def statuses(seed):
        with FastLabelEmulator(api_key="k", seed=seed, faults={"rate_limit": 0.5}) as emulator:
            return [call(emulator, "GET", "projects").status_code for _ in range(20)]

    first = statuses(7)
    assert first == statuses(7)
    assert set(first) == {200, 429}


# -- call budget -----------------------------------------------------------------------------------------------


def test_default_budget_is_fastlabels_documented_limit(emulator):
    knobs = emulator.faults
    assert (knobs["max_calls"], knobs["window_seconds"], knobs["enforce_limit"]) == (10000, 600, True)


def test_call_budget_is_enforced():
    with FastLabelEmulator(api_key="k", max_calls=3, window_seconds=60) as emulator:
        create_project(emulator)
        task_id = create_task(emulator)
        url = get_task(emulator, task_id)["url"]
        over = call(emulator, "GET", "projects")
        assert over.status_code == 429 and 1 <= int(over.headers["Retry-After"]) <= 60
        assert "budget" in over.json()["message"]
        # image downloads are not in the budget
        assert requests.get(url, timeout=10).status_code == 200
        stats = emulator.stats()
        assert stats["over_limit"] == 1 and stats["peak_calls_in_window"] == 3 and stats["max_calls"] == 3


def test_call_budget_can_only_count_or_be_off():
    with FastLabelEmulator(api_key="k", max_calls=2, enforce_limit=False) as emulator:
        for _ in range(4):
            assert ok(call(emulator, "GET", "projects")) == []
        assert emulator.stats()["over_limit"] == 2 and emulator.stats()["peak_calls_in_window"] == 4
    with FastLabelEmulator(api_key="k", max_calls=None) as emulator:
        assert ok(call(emulator, "GET", "projects")) == [] and emulator.stats()["max_calls"] is None


def test_call_budget_window_slides():
    with FastLabelEmulator(api_key="k", max_calls=2, window_seconds=0.5) as emulator:
        assert ok(call(emulator, "GET", "projects")) == []
        assert ok(call(emulator, "GET", "projects")) == []
        assert call(emulator, "GET", "projects").status_code == 429
        time.sleep(0.6)
        assert ok(call(emulator, "GET", "projects")) == []


# -- control endpoints, stats, helpers, plugin, concurrency, command line ----------------------------------------


def test_control_endpoints_and_operation_names(emulator, project):
    control = emulator.base_url + "/_emulator/"
    auth = {"Authorization": "Bearer unit-key"}
    assert requests.get(control + "stats", timeout=10).status_code == 401
    requests_before = emulator.stats()["requests"]
    task_id = create_task(emulator)
    get_task(emulator, task_id)
    ok(call(emulator, "PUT", "tasks/image/" + task_id, json={"status": "completed"}))
    stats = requests.get(control + "stats", headers=auth, timeout=10).json()
    assert stats["requests"] == requests_before + 3
    assert stats["operations"]["POST tasks/image"] == 1 and stats["operations"]["GET tasks/image/{id}"] == 1
    assert stats["operations"]["PUT tasks/image/{id}"] == 1 and stats["operations"]["POST projects"] == 1
    assert set(stats["operations"]) <= set(OPERATIONS) and "201" not in stats["statuses"]

    knobs = requests.post(
        control + "faults", json={"server_error": 1.0, "fault_operations": ["POST projects"]}, headers=auth, timeout=10
    )
    assert knobs.status_code == 200 and knobs.json()["server_error"] == 1.0
    assert requests.get(control + "faults", headers=auth, timeout=10).json()["fault_operations"] == ["POST projects"]
    assert call(emulator, "POST", "projects", json={"type": "image_bbox", "name": "n", "slug": "n"}).status_code == 503
    assert requests.post(control + "faults", json={"server_error": 3}, headers=auth, timeout=10).status_code == 400
    requests.post(control + "faults", json={"server_error": 0, "fault_operations": None}, headers=auth, timeout=10)
    reset = requests.post(control + "reset_stats", headers=auth, timeout=10).json()
    assert reset["requests"] == 0 and reset["operations"] == {}

    user = requests.post(control + "users", json={"name": "Zed", "email": "zed@example.com"}, headers=auth, timeout=10)
    assert user.status_code == 200 and user.json()["userSlug"] == "zed"
    assert (
        requests.post(
            control + "users", json={"name": "Zed", "email": "zed@example.com"}, headers=auth, timeout=10
        ).status_code
        == 400
    )
    assert requests.post(control + "clear", headers=auth, timeout=10).status_code == 200
    assert ok(call(emulator, "GET", "projects")) == []
    assert len(ok(call(emulator, "GET", "workspaces-users"))) == 2  # users stay
    assert requests.get(control + "nothing", headers=auth, timeout=10).status_code == 404
    assert emulator.stats()["requests"] == 2  # control requests are not counted


def test_concurrent_creates_are_consistent(emulator, project):
    def create(i):
        return create_task(emulator, name="c%02d.png" % i, data=image_bytes((4 + i, 4)), tags=["batch"])

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(create, range(24)))
    assert len(set(ids)) == 24
    assert ok(call(emulator, "GET", "tasks/count", params={"project": "proj", "tags": "batch"})) == 24
    listed = ok(call(emulator, "GET", "tasks/image", params={"project": "proj", "limit": 1000}))
    assert [t["id"] for t in listed] == [t["id"] for t in sorted(listed, key=lambda t: t["createdAt"])]


def test_pytest_plugin_fixture(fastlabel_emulator):
    assert fastlabel_emulator.api_key.startswith("test-") and fastlabel_emulator.url.endswith("/v1/")
    assert ok(call(fastlabel_emulator, "GET", "projects")) == []
    assert fastlabel_emulator.faults["max_calls"] == 10000


def test_pytest_plugin_session_fixture_has_no_budget(fastlabel_emulator_session):
    assert fastlabel_emulator_session.faults["max_calls"] is None
    assert ok(call(fastlabel_emulator_session, "GET", "workspaces-users"))[0]["userSlug"] == "emulator-admin"


@pytest.mark.parametrize(
    "extra, max_calls", [([], 10000), (["--max-calls", "0"], None), (["--no-limit"], None), (["--max-calls", "5"], 5)]
)
def test_cli_prints_the_url_and_stops_on_sigterm(extra, max_calls):
    process = subprocess.Popen(
        [sys.executable, "-m", "fo_annotation_backends.testing.fastlabel", "--port", "0", "--api-key", "cli-key"]
        + extra,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1/")
        response = requests.get(url + "projects", headers={"Authorization": "Bearer cli-key"}, timeout=10)
        assert response.status_code == 200 and response.json() == []
        assert requests.get(url + "projects", timeout=10).status_code == 401
        base = url[: -len("/v1/")]
        knobs = requests.get(base + "/_emulator/faults", headers={"Authorization": "Bearer cli-key"}, timeout=10).json()
        assert knobs["max_calls"] == max_calls and knobs["window_seconds"] == 600
        process.send_signal(signal.SIGTERM)  # to the process we started only
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()
