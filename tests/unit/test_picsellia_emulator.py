"""The Picsellia emulator over real sockets, with plain ``requests``: the
handshake, Bearer auth, ``{"message", "detail"}`` errors, cursor and
limit/offset paging, the presigned and multipart upload flows, data
processing, datasets, versions, labels, the add-data job, assets, annotations
of every shape, bulk imports, filters, deletes, faults, the simulated
annotator and the command line."""

import io
import os
import signal
import subprocess
import sys

import pytest
import requests
from PIL import Image

from fo_annotation_backends.testing.picsellia import PicselliaEmulator
from fo_annotation_backends.testing.picsellia.server import OPERATIONS
from fo_annotation_backends.testing.picsellia_annotator import PicselliaAnnotator

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def png(width=64, height=48, color=(200, 10, 10)):
    """PNG bytes of a plain image."""
    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, format="PNG")
    return buf.getvalue()


class Api:
    """A thin client of the emulator (what an SDK would send)."""

    def __init__(self, emulator):
        self.emulator = emulator
        self.url = emulator.url
        self.headers = {"Authorization": "Bearer %s" % emulator.api_key}

    def raw(self, method, path, **kwargs):
        return requests.request(method, self.url + path, headers=self.headers, timeout=20, **kwargs)

    def ok(self, method, path, **kwargs):
        response = self.raw(method, path, **kwargs)
        assert 200 <= response.status_code < 300, (response.status_code, response.text)
        return response.json() if response.content else None

    def error(self, status, method, path, **kwargs):
        response = self.raw(method, path, **kwargs)
        assert response.status_code == status, (response.status_code, response.text)
        body = response.json()
        assert set(body) == {"message", "detail"}
        return body

    @property
    def org(self):
        return self.ok("GET", "/api/home/ping")["default_organization"]

    def connector(self):
        return self.ok("GET", "/api/organization/%s/datalake" % self.org)

    def put_object(self, filename, content, content_type="image/png"):
        """Steps 1-2 of the upload: an object name and the presigned POST."""
        datalake = self.connector()
        conn = datalake["connector_id"]
        name = self.ok(
            "POST",
            "/api/organization/%s/connector/%s/generate_object_name" % (self.org, conn),
            json={"filename": filename, "type": "DATA"},
        )["object_name"]
        presigned = self.ok(
            "POST",
            "/api/object-storage/%s/generate_presigned_url" % conn,
            json={"object_name": name, "content_type": content_type},
        )
        assert presigned["client_type"] == "minio"
        post = presigned["presigned_url_data"]
        fields = dict(post["fields"], **{"Content-Type": content_type})
        response = requests.post(post["url"], data=fields, files={"file": (filename, content)}, timeout=20)
        assert response.status_code == 204, response.text
        return datalake, name

    def upload(self, filename, content=None, wait=True):
        """The whole upload: a data (DONE when ``wait``)."""
        datalake, name = self.put_object(filename, content if content is not None else png())
        data = self.ok(
            "POST",
            "/api/datalake/%s/datas" % datalake["id"],
            json={"type": "IMAGE", "filename": filename, "object_name": name, "content_type": "image/png", "tags": []},
        )
        while wait and data["upload_status"] in ("PENDING", "COMPUTING"):
            data = self.ok("GET", "/api/data/%s" % data["id"])
        return data

    def version(self, version_type="MULTI", name="ds"):
        dataset = self.ok("POST", "/api/organization/%s/datasets" % self.org, json={"name": name, "description": ""})
        return self.ok(
            "POST",
            "/api/dataset/%s/versions" % dataset["id"],
            json={"version": "initial", "description": "", "type": version_type},
        )

    def add_assets(self, version_id, data_ids):
        job = self.ok("POST", "/api/dataset/version/%s/assets" % version_id, json={"data_ids": data_ids})["job"]
        while job["status"] == "RUNNING":
            job = self.ok("GET", "/api/job/%s" % job["id"])
        assert job["status"] == "SUCCESS"
        return self.ok("GET", "/api/dataset/version/%s/assets" % version_id, params={"limit": 1000})["items"]

    def setup(self, version_type="MULTI", count=1, labels=("cat", "dog")):
        """A version with labels and ``count`` assets."""
        version = self.version(version_type)
        got = self.ok("XGET", "/api/dataset/version/%s/bulk-labels" % version["id"], json={"names": list(labels)})
        datas = [self.upload("img%02d.png" % i) for i in range(count)]
        assets = self.add_assets(version["id"], [d["id"] for d in datas])
        return version["id"], {label["name"]: label["id"] for label in got}, assets


@pytest.fixture
def api(picsellia_emulator):
    return Api(picsellia_emulator)


# -- handshake, auth, errors -------------------------------------------------------------------


def test_handshake(api):
    ping = api.ok("GET", "/api/home/ping")
    assert ping["sdk_version"] == "6.37.0" and ping["username"] == "emulator-user"
    org = api.ok("GET", "/api/organization/%s" % ping["default_organization"])
    assert org["id"] == api.emulator.organization_id and org["name"] == "emulator"
    assert org["default_connector_id"] == api.connector()["connector_id"]
    assert api.ok("GET", "/api/organizations/find", params={"name": "emulator"}) == org
    api.error(404, "GET", "/api/organizations/find", params={"name": "other"})
    api.error(404, "GET", "/api/organization/00000000-0000-0000-0000-000000000000")
    users = api.ok("GET", "/api/access/organization/%s/users" % org["id"])["users"]
    assert [u["username"] for u in users] == ["emulator-user"]


def test_auth_and_errors(api):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": api.emulator.api_key}):
        response = requests.get(api.url + "/api/home/ping", headers=headers, timeout=10)
        assert response.status_code == 401
        assert set(response.json()) == {"message", "detail"}
    api.error(404, "GET", "/api/nothing/here")
    api.error(404, "GET", "/api/job/unknown")
    api.error(400, "POST", "/api/organization/%s/datasets" % api.org, data=b"{not json")
    api.error(400, "POST", "/api/organization/%s/datasets" % api.org, json={"name": "x", "typo": 1})


# -- upload flow and data ----------------------------------------------------------------------


def test_upload_flow_decodes_the_image(picsellia_emulator):
    api = Api(picsellia_emulator)
    data = api.upload("a.png", png(30, 20), wait=False)
    assert data["upload_status"] == "PENDING" and data["type"] == "IMAGE"
    assert data["meta"] == {"width": 30, "height": 20} and data["filename"] == "a.png"
    assert api.ok("GET", "/api/data/%s" % data["id"])["upload_status"] == "DONE"
    fetched = requests.get(data["presigned_url"], timeout=10)
    assert fetched.status_code == 200 and fetched.content == png(30, 20)
    assert requests.get(data["presigned_url"].split("?")[0], timeout=10).status_code == 403


def test_processing_steps_and_bad_data():
    with PicselliaEmulator(api_key="k", processing_reads=3) as emulator:
        api = Api(emulator)
        data = api.upload("a.png", wait=False)
        seen = [api.ok("GET", "/api/data/%s" % data["id"])["upload_status"] for _ in range(3)]
        assert seen == ["COMPUTING", "COMPUTING", "DONE"]
        broken = api.upload("b.png", b"not an image", wait=False)
        assert broken["upload_status"] == "ERROR"
        datalake, _ = api.put_object("c.png", png())
        body = {"type": "IMAGE", "filename": "c.png", "object_name": "never/issued", "content_type": "image/png"}
        api.error(400, "POST", "/api/datalake/%s/datas" % datalake["id"], json=body)
        api.error(400, "POST", "/api/datalake/%s/datas" % datalake["id"], json=dict(body, type="PDF"))
        api.error(404, "POST", "/api/datalake/unknown/datas", json=body)
        api.error(404, "GET", "/api/data/unknown")


def test_presigned_post_needs_its_fields(api):
    conn = api.connector()["connector_id"]
    org = api.org
    name = api.ok(
        "POST",
        "/api/organization/%s/connector/%s/generate_object_name" % (org, conn),
        json={"filename": "x.png", "type": "DATA"},
    )["object_name"]
    post = api.ok("POST", "/api/object-storage/%s/generate_presigned_url" % conn, json={"object_name": name})
    url, fields = post["presigned_url_data"]["url"], post["presigned_url_data"]["fields"]
    forged = dict(fields, policy="forged")
    assert requests.post(url, data=forged, files={"file": ("x.png", png())}, timeout=10).status_code == 403
    assert requests.post(url, data=fields, timeout=10).status_code == 400  # no file part
    api.error(400, "POST", "/api/object-storage/%s/generate_presigned_url" % conn, json={"object_name": "made/up"})
    api.error(404, "POST", "/api/object-storage/unknown/generate_presigned_url", json={"object_name": name})


def test_multipart_part_upload(api):
    conn, org = api.connector()["connector_id"], api.org
    content = png(40, 40) + b"\0" * (5 * 1024 * 1024)
    name = api.ok(
        "POST",
        "/api/organization/%s/connector/%s/generate_object_name" % (org, conn),
        json={"filename": "big.png", "type": "DATA"},
    )["object_name"]
    base = "/api/object-storage/%s/" % conn
    upload_id = api.ok("POST", base + "init_multipart_upload", json={"object_name": name})["upload_id"]
    cut = 5 * 1024 * 1024
    parts = []
    for number, chunk in ((1, content[:cut]), (2, content[cut:])):
        url = api.ok(
            "POST",
            base + "generate_part_presigned_url",
            json={"object_name": name, "upload_id": upload_id, "part_no": number},
        )["url"]
        response = requests.put(url, data=chunk, timeout=20)
        assert response.status_code == 200
        parts.append({"ETag": response.headers["ETag"], "PartNumber": number})
    bad = [parts[0], dict(parts[1], ETag='"nope"')]
    api.error(
        400, "POST", base + "complete_part_upload", json={"object_name": name, "upload_id": upload_id, "parts": bad}
    )
    api.ok("POST", base + "complete_part_upload", json={"object_name": name, "upload_id": upload_id, "parts": parts})
    data = api.ok(
        "POST",
        "/api/datalake/%s/datas" % api.connector()["id"],
        json={"type": "IMAGE", "filename": "big.png", "object_name": name, "content_type": "image/png"},
    )
    assert data["meta"] == {"width": 40, "height": 40}
    assert requests.get(data["presigned_url"], timeout=20).content == content


def test_multipart_refuses_small_middle_parts(api):
    conn, org = api.connector()["connector_id"], api.org
    name = api.ok(
        "POST",
        "/api/organization/%s/connector/%s/generate_object_name" % (org, conn),
        json={"filename": "s.png", "type": "DATA"},
    )["object_name"]
    base = "/api/object-storage/%s/" % conn
    upload_id = api.ok("POST", base + "init_multipart_upload", json={"object_name": name})["upload_id"]
    parts = []
    for number in (1, 2):
        body = {"object_name": name, "upload_id": upload_id, "part_no": number}
        url = api.ok("POST", base + "generate_part_presigned_url", json=body)["url"]
        assert requests.put(url.split("?")[0] + "?signature=bad", data=b"x", timeout=10).status_code == 403
        parts.append({"ETag": requests.put(url, data=b"x", timeout=10).headers["ETag"], "PartNumber": number})
    body = {"object_name": name, "upload_id": upload_id, "parts": parts}
    assert "smaller" in api.error(400, "POST", base + "complete_part_upload", json=body)["message"]
    api.error(400, "POST", base + "complete_part_upload", json=dict(body, parts=parts[::-1]))


# -- datasets, versions, labels ----------------------------------------------------------------


def test_datasets_and_versions(api):
    org = api.org
    dataset = api.ok("POST", "/api/organization/%s/datasets" % org, json={"name": "ds", "description": "d"})
    api.error(409, "POST", "/api/organization/%s/datasets" % org, json={"name": "ds"})
    assert api.ok("GET", "/api/organization/%s/datasets/find" % org, params={"name": "ds"})["id"] == dataset["id"]
    assert api.ok("GET", "/api/organization/%s/datasets/find" % org, params={"id": dataset["id"]})["name"] == "ds"
    api.error(404, "GET", "/api/organization/%s/datasets/find" % org, params={"name": "nope"})
    path = "/api/dataset/%s/versions" % dataset["id"]
    version = api.ok("POST", path, json={"version": "v1", "description": "", "type": "OBJECT_DETECTION"})
    assert version["origin_name"] == "ds" and version["origin_id"] == dataset["id"]
    assert version["type"] == "OBJECT_DETECTION" and version["version"] == "v1"
    api.error(409, "POST", path, json={"version": "v1", "type": "OBJECT_DETECTION"})
    api.error(400, "POST", path, json={"version": "v2", "type": "BOXES"})
    assert api.ok("GET", path + "/find", params={"version": "v1"})["id"] == version["id"]
    api.error(404, "GET", path + "/find", params={"version": "v9"})
    v = "/api/dataset/version/%s" % version["id"]
    assert api.ok("PATCH", v, json={"type": "SEGMENTATION"})["type"] == "SEGMENTATION"
    assert api.ok("GET", v)["type"] == "SEGMENTATION"
    assert api.raw("DELETE", v).status_code == 204
    api.error(404, "GET", v)


def test_labels(api):
    version = api.version()
    v = "/api/dataset/version/%s" % version["id"]
    cat = api.ok("POST", v + "/labels", json={"name": "cat"})
    api.error(409, "POST", v + "/labels", json={"name": "cat"})
    got = api.ok("XGET", v + "/bulk-labels", json={"names": ["cat", "dog"]})
    assert got[0] == cat and got[1]["name"] == "dog"
    assert api.ok("XGET", v + "/bulk-labels", json={"names": ["dog"]}) == [got[1]]
    listed = api.ok("GET", v + "/labels")
    assert listed["count"] == 2 and {label["name"] for label in listed["items"]} == {"cat", "dog"}
    api.error(400, "XGET", v + "/bulk-labels", json={"names": [""]})
    assert api.ok("GET", v + "/labels/find", params={"name": "cat"}) == cat
    api.error(404, "GET", v + "/labels/find", params={"name": "bird"})
    assert api.ok("GET", v + "/labelgroups") == {"items": [], "count": 0}


# -- add data job and assets -------------------------------------------------------------------


def test_add_data_is_a_job(api):
    version = api.version()
    v = "/api/dataset/version/%s" % version["id"]
    data = api.upload("a.png")
    job = api.ok("POST", v + "/assets", json={"data_ids": [data["id"]], "asset_tag_ids": []})["job"]
    assert job["status"] == "RUNNING"
    assert api.ok("GET", v + "/assets")["items"] == []  # not visible before the job ends
    assert api.ok("GET", "/api/job/%s" % job["id"])["status"] == "SUCCESS"
    assets = api.ok("GET", v + "/assets")["items"]
    assert len(assets) == 1 and assets[0]["data"]["id"] == data["id"]
    assert assets[0]["data"]["meta"] == {"width": 64, "height": 48}
    api.error(409, "POST", v + "/assets", json={"data_ids": [data["id"]]})
    api.error(404, "POST", v + "/assets", json={"data_ids": ["unknown"]})
    api.error(400, "POST", v + "/assets", json={"data_ids": ["x"] * 10001})


def test_asset_pagination_filters_find_delete(api):
    version_id, _, assets = api.setup(count=5)
    v = "/api/dataset/version/%s/assets" % version_id
    first = api.ok("GET", v, params={"limit": 2})
    assert first["count"] == 5 and len(first["items"]) == 2 and first["next_cursor"]
    seen = [a["id"] for a in first["items"]]
    cursor = first["next_cursor"]
    while cursor:
        page = api.ok("GET", v, params={"limit": 2, "cursor": cursor})
        seen += [a["id"] for a in page["items"]]
        cursor = page["next_cursor"]
    assert seen == [a["id"] for a in assets]
    by_offset = api.ok("GET", v, params={"limit": 2, "offset": 4, "order_by": "filename"})
    assert [a["id"] for a in by_offset["items"]] == seen[4:] and "next_cursor" not in by_offset
    api.error(400, "GET", v, params={"limit": 1001})
    api.error(400, "GET", v, params={"cursor": "garbage"})
    statuses = {"upload_statuses": ["PENDING", "COMPUTING", "DONE", "ERROR"], "types": ["IMAGE", "VIDEO"]}
    assert api.ok("GET", v, params=statuses)["count"] == 5
    assert api.ok("GET", v, params={"types": "VIDEO"})["count"] == 0
    assert api.ok("GET", v, params={"upload_statuses": "ERROR"})["count"] == 0
    api.error(400, "GET", v, params={"types": "PDF"})
    xget = api.ok("XGET", v, json=dict(statuses, filenames=["img01.png", "img03.png"]))
    assert [a["data"]["filename"] for a in xget["items"]] == ["img01.png", "img03.png"]
    assert api.ok("XGET", v, json={"ids": [assets[2]["id"]]})["items"] == [assets[2]]
    assert api.ok("XGET", v, json={"filename_startswith": ["img0"]})["count"] == 5
    api.error(400, "XGET", v, json={"ids": [], "filenames": []})
    found = api.ok("GET", v + "/find", params={"filename": "img04.png"})
    assert found == assets[4]
    assert api.ok("GET", v + "/find", params={"data_id": assets[1]["data"]["id"]}) == assets[1]
    api.error(404, "GET", v + "/find", params={"filename": "nope.png"})
    assert api.raw("DELETE", v, json={"ids": [assets[0]["id"]]}).status_code == 204
    assert api.ok("GET", v)["count"] == 4
    api.error(404, "DELETE", v, json={"ids": [assets[0]["id"]]})


def test_datalake_list(api):
    datas = [api.upload("d%d.png" % i) for i in range(3)]
    path = "/api/datalake/%s/datas" % api.connector()["id"]
    listed = api.ok("GET", path, params={"limit": 10})
    assert [d["id"] for d in listed["items"]] == [d["id"] for d in datas] and listed["next_cursor"] is None
    got = api.ok("XGET", path, json={"object_names": [datas[1]["object_name"]]})
    assert [d["id"] for d in got["items"]] == [datas[1]["id"]]


# -- annotations -------------------------------------------------------------------------------


SHAPES = {
    "rectangles": [{"x": 1, "y": 2, "w": 10, "h": 20}],
    "polygons": [{"polygon": [[0, 0], [10, 0], [10, 10]]}],
    "lines": [{"line": [[0, 0], [63, 47]]}],
    "points": [{"point": [5, 6]}],
    "classifications": [{}],
    "keypoints": [{"keypoints": [[1, 1, 2], [3, 4, 1]]}],
    # a 64x48 image (column-major runs): 50 pixels out, 7 in, the rest out
    "masks": [{"mask": "b17Wn2"}],
}


def test_annotations_of_every_shape(api):
    version_id, labels, assets = api.setup()
    annotation = api.ok("POST", "/api/asset/%s/annotations" % assets[0]["id"], json={"duration": 0})
    assert annotation["status"] == "PENDING" and annotation["asset_id"] == assets[0]["id"]
    for kind, shapes in SHAPES.items():
        sent = [dict(s, label_id=labels["cat"], text="t") for s in shapes]
        created = api.ok("POST", "/api/annotation/%s/bulk-%s" % (annotation["id"], kind), json={kind: sent})[kind]
        assert created[0]["label"] == {"id": labels["cat"], "name": "cat", "group_id": None}
        assert "label_id" not in created[0] and created[0]["id"] and created[0]["attributes"] == {}
        listed = api.ok("GET", "/api/annotation/%s/%s" % (annotation["id"], kind))
        assert listed == {"items": created, "count": 1}
    loaded = api.ok("XGET", "/api/dataset/version/%s/annotations" % version_id, json=[annotation["id"]])
    assert len(loaded) == 1
    for kind, shapes in SHAPES.items():
        (shape,) = loaded[0][kind]
        assert shape["label"] == "cat" and shape["text"] == "t"
        for key, value in shapes[0].items():
            assert shape[key] == value
    api.error(404, "XGET", "/api/dataset/version/%s/annotations" % version_id, json=["unknown"])
    got = api.ok("GET", "/api/annotation/%s" % annotation["id"])
    assert got == {
        "id": annotation["id"],
        "asset_id": assets[0]["id"],
        "duration": 0,
        "status": "PENDING",
        "attributes": {},
    }
    assert api.raw("DELETE", "/api/annotation/%s" % annotation["id"]).status_code == 204
    api.error(404, "GET", "/api/annotation/%s" % annotation["id"])


@pytest.mark.parametrize(
    "kind,shape,status",
    [
        ("rectangles", {"x": 0, "y": 0, "w": 0, "h": 5}, 400),
        ("rectangles", {"x": 0, "y": 0, "w": 5, "h": -1}, 400),
        ("rectangles", {"x": 60, "y": 0, "w": 10, "h": 5}, 400),
        ("rectangles", {"x": -1, "y": 0, "w": 10, "h": 5}, 400),
        ("rectangles", {"x": 1.5, "y": 0, "w": 10, "h": 5}, 400),
        ("polygons", {"polygon": [[0, 0], [1, 1]]}, 400),
        ("polygons", {"polygon": [[0, 0], [1, 1], [99, 1]]}, 400),
        ("lines", {"line": [[0, 0]]}, 400),
        ("points", {"point": [0, 49]}, 400),
        ("keypoints", {"keypoints": [[1, 1]]}, 400),
        ("masks", {"mask": "abc"}, 400),  # ends inside a run length
        ("masks", {"mask": "b17WP3"}, 400),  # 64 pixels too many
        ("masks", {"mask": 7}, 400),
    ],
)
def test_bad_shapes_are_refused(api, kind, shape, status):
    _, labels, assets = api.setup()
    annotation = api.ok("POST", "/api/asset/%s/annotations" % assets[0]["id"], json={"duration": 0})
    api.error(
        status,
        "POST",
        "/api/annotation/%s/bulk-%s" % (annotation["id"], kind),
        json={kind: [dict(shape, label_id=labels["cat"])]},
    )


def test_labels_and_version_type_are_enforced(api):
    version_id, labels, assets = api.setup("OBJECT_DETECTION")
    annotation = api.ok("POST", "/api/asset/%s/annotations" % assets[0]["id"], json={"duration": 0})
    path = "/api/annotation/%s/" % annotation["id"]
    api.error(
        404, "POST", path + "bulk-rectangles", json={"rectangles": [dict(SHAPES["rectangles"][0], label_id="nope")]}
    )
    api.error(
        400, "POST", path + "bulk-polygons", json={"polygons": [dict(SHAPES["polygons"][0], label_id=labels["cat"])]}
    )
    api.ok(
        "POST", path + "bulk-rectangles", json={"rectangles": [dict(SHAPES["rectangles"][0], label_id=labels["cat"])]}
    )
    api.error(400, "PATCH", "/api/dataset/version/%s" % version_id, json={"type": "SEGMENTATION"})
    assert api.ok("PATCH", "/api/dataset/version/%s" % version_id, json={"type": "OBJECT_DETECTION"})
    api.error(404, "POST", "/api/annotation/unknown/bulk-rectangles", json={"rectangles": []})
    api.error(404, "POST", "/api/asset/unknown/annotations", json={"duration": 0})


def test_save_replaces_and_status(api):
    version_id, labels, assets = api.setup()
    annotation = api.ok("POST", "/api/asset/%s/annotations" % assets[0]["id"], json={"duration": 0})
    path = "/api/annotation/%s" % annotation["id"]
    api.ok("POST", path + "/bulk-points", json={"points": [{"point": [1, 1], "label_id": labels["cat"]}]})
    saved = api.ok(
        "POST",
        path + "/save",
        json={"duration": 3, "rectangles": [dict(SHAPES["rectangles"][0], label_id=labels["dog"])]},
    )
    assert saved["points"] == [] and [r["label"] for r in saved["rectangles"]] == ["dog"]
    api.error(
        400, "POST", path + "/save", json={"rectangles": [{"x": 0, "y": 0, "w": 0, "h": 0, "label_id": labels["dog"]}]}
    )
    assert api.ok("PATCH", path, json={"status": "ACCEPTED"})["status"] == "ACCEPTED"
    api.error(400, "PATCH", path, json={"status": "DONE"})
    listed = api.ok("GET", "/api/dataset/version/%s/annotations" % version_id, params={"status": "ACCEPTED"})
    assert [a["id"] for a in listed["items"]] == [annotation["id"]] and listed["items"][0]["duration"] == 3
    assert api.ok("GET", "/api/dataset/version/%s/annotations" % version_id, params={"status": "REFUSED"})["count"] == 0


def _import(api, version_id, import_type, items, status=None):
    body = {"import_type": import_type, "annotations": items}
    if status:
        body["status"] = status
    return api.ok("POST", "/api/dataset/version/%s/bulk-annotations" % version_id, json=body)


def test_bulk_import_modes(api):
    version_id, labels, assets = api.setup(count=2)
    a0, a1 = assets[0]["id"], assets[1]["id"]
    rect = dict(SHAPES["rectangles"][0], label_id=labels["cat"])
    out = _import(
        api,
        version_id,
        "REPLACE",
        [{"asset_id": a0, "rectangles": [rect]}, {"asset_id": a1, "classifications": [{"label_id": labels["dog"]}]}],
        status="ACCEPTED",
    )
    assert len(out) == 2 and list(out.values()) == [1, 1]
    v = "/api/dataset/version/%s/annotations" % version_id
    ids = api.ok("GET", v + "/ids", params={"asset_ids": [a0]})
    assert len(ids) == 1 and ids[0] in out
    assert api.ok("GET", v, params={"status": "ACCEPTED"})["count"] == 2
    assert _import(api, version_id, "KEEP", [{"asset_id": a0, "rectangles": [rect, rect]}]) == {}
    concatenated = _import(api, version_id, "CONCATENATE", [{"asset_id": a0, "rectangles": [rect]}])
    assert list(concatenated) == ids
    assert len(api.ok("XGET", v, json=ids)[0]["rectangles"]) == 2
    replaced = _import(
        api,
        version_id,
        "REPLACE",
        [{"asset_id": a0, "polygons": [dict(SHAPES["polygons"][0], label_id=labels["cat"])]}],
    )
    new_ids = api.ok("GET", v + "/ids", params={"asset_ids": [a0]})
    assert new_ids == list(replaced) and new_ids != ids
    loaded = api.ok("XGET", v, json=new_ids)[0]
    assert loaded["rectangles"] == [] and len(loaded["polygons"]) == 1 and loaded["status"] == "PENDING"
    # a bad item refuses the whole import
    before = api.ok("GET", v)["count"]
    body = {"import_type": "REPLACE", "annotations": [{"asset_id": a1, "rectangles": [rect]}, {"asset_id": "nope"}]}
    api.error(404, "POST", "/api/dataset/version/%s/bulk-annotations" % version_id, json=body)
    body = {"import_type": "MERGE", "annotations": [{"asset_id": a1}]}
    api.error(400, "POST", "/api/dataset/version/%s/bulk-annotations" % version_id, json=body)
    assert api.ok("GET", v)["count"] == before


def test_load_order_and_deletes(api):
    version_id, labels, assets = api.setup(count=2)
    a0, a1 = assets[0]["id"], assets[1]["id"]
    older = api.ok("POST", "/api/asset/%s/annotations" % a0, json={"duration": 0})["id"]
    newer = api.ok("POST", "/api/asset/%s/annotations" % a0, json={"duration": 0})["id"]
    other = api.ok("POST", "/api/asset/%s/annotations" % a1, json={"duration": 0})["id"]
    v = "/api/dataset/version/%s/annotations" % version_id
    assert [a["id"] for a in api.ok("XGET", v, json=[other, older, newer])] == [newer, older, other]
    listed = api.ok("GET", "/api/asset/%s/annotations" % a0)
    assert [a["id"] for a in listed["items"]] == [older, newer] and listed["count"] == 2
    assert api.ok("GET", "/api/asset/%s/annotations/find" % a0)["id"] == newer
    page = api.ok("GET", v, params={"limit": 2, "offset": 0})
    assert page["count"] == 3 and len(page["items"]) == 2
    assert api.raw("DELETE", v, json={"asset_ids": [a0], "annotation_ids": [older]}).status_code == 204
    assert sorted(api.ok("GET", v + "/ids")) == sorted([newer, other])
    api.error(404, "DELETE", v, json={"asset_ids": [a0], "annotation_ids": [other]})
    assert api.raw("DELETE", v, json={"asset_ids": ["__all__"]}).status_code == 204
    assert api.ok("GET", v + "/ids") == []
    api.error(404, "GET", "/api/asset/%s/annotations/find" % a0)
    # deleting an asset takes its annotations
    ann = api.ok("POST", "/api/asset/%s/annotations" % a1, json={"duration": 0})["id"]
    api.raw("DELETE", "/api/dataset/version/%s/assets" % version_id, json={"ids": [a1]})
    api.error(404, "PATCH", "/api/annotation/%s" % ann, json={"status": "ACCEPTED"})


def test_campaign_lifecycle(api):
    version_id, labels, assets = api.setup(count=3)
    ids = [a["id"] for a in assets]
    rect = dict(SHAPES["rectangles"][0], label_id=labels["cat"])
    _import(api, version_id, "REPLACE", [{"asset_id": ids[0], "rectangles": [rect]}])
    v = "/api/dataset/version/%s" % version_id
    fields = {"description": "c", "instructions_text": None, "end_date": None, "auto_add_new_assets": False}
    campaign = api.ok("POST", v + "/campaigns", json=dict(fields, auto_close_on_completion=True))
    assert campaign["auto_close_on_completion"] is True and campaign["status"] == "OPEN"
    assert campaign["dataset_version_id"] == version_id
    assert api.ok("GET", v)["annotation_campaign_id"] == campaign["id"]
    api.error(409, "POST", v + "/campaigns", json={})
    c = "/api/campaigns/annotation/%s" % campaign["id"]
    available = api.ok("GET", c + "/assignments/sync/available")
    assert available == {"is_sync_available": False, "reason": "the campaign has no step", "unsynced_item_count": 3}
    user = api.ok("GET", "/api/access/organization/%s/users" % api.org)["users"][0]["id"]
    api.error(404, "POST", c + "/steps", json={"name": "a", "type": "ANNOTATION", "assignees": [{"user_id": "x"}]})
    api.error(400, "POST", c + "/steps", json={"name": "a", "type": "LABEL"})
    step = api.ok(
        "POST",
        c + "/steps",
        json={"name": "a", "type": "ANNOTATION", "order": 0, "assignees": [{"user_id": user, "weight": 1}]},
    )
    review = api.ok(
        "POST", c + "/steps", json={"name": "r", "type": "REVIEW", "order": None, "sample_rate": None, "assignees": []}
    )
    assert review["order"] == 1
    api.error(400, "POST", c + "/steps", json={"name": "x", "type": "REVIEW", "sample_rate": 2})
    assert [s["id"] for s in api.ok("GET", c + "/steps")["items"]] == [step["id"], review["id"]]
    assert api.ok("GET", c + "/assignments/sync/available")["is_sync_available"] is True
    job = api.ok("POST", c + "/assignments/sync", json={"existing_annotations_step_id": "DONE"})["job"]
    assert job["status"] == "RUNNING"
    assert api.ok("GET", "/api/v2/job/%s" % job["id"])["status"] == "SUCCEEDED"
    assignments = api.ok("GET", c + "/assignments", params={"limit": 10})["items"]
    by_asset = {a["asset_id"]: a for a in assignments}
    assert by_asset[ids[0]]["status"] == "DONE" and by_asset[ids[0]]["step_id"] == review["id"]
    assert by_asset[ids[1]]["status"] == "TO_DO" and by_asset[ids[1]]["assigned_user_id"] == user
    assert by_asset[ids[1]]["data"]["id"] == assets[1]["data"]["id"]
    assert by_asset[ids[1]]["data"]["filename"] == "img01.png"
    todo = api.ok("GET", c + "/assignments", params={"status": "TO_DO", "step_id": step["id"]})
    assert todo["count"] == 2
    assets_todo = api.ok("GET", v + "/assets", params={"assignment_status": "TO_DO"})
    assert sorted(a["id"] for a in assets_todo["items"]) == sorted(ids[1:])
    assert api.ok("GET", c + "/assignments/sync/available")["unsynced_item_count"] == 0
    # the service's traps: no import, no shape write, no delete-all on synced assets
    assert _import(api, version_id, "REPLACE", [{"asset_id": ids[1], "rectangles": [rect]}]) == {}
    ann = api.ok("POST", "/api/asset/%s/annotations" % ids[1], json={"duration": 0})
    api.error(400, "POST", "/api/annotation/%s/bulk-rectangles" % ann["id"], json={"rectangles": [rect]})
    api.error(400, "DELETE", v + "/annotations", json={"asset_ids": ["__all__"]})
    assert api.ok("POST", c + "/close")["status"] == "CLOSED"
    assert api.ok("PATCH", c, json={"description": "d"})["description"] == "d"
    api.error(400, "PATCH", c, json={"auto_add_new_assets": True})
    assert api.raw("DELETE", c).status_code == 204
    api.error(404, "GET", c)
    assert "annotation_campaign_id" not in api.ok("GET", v)
    api.ok("POST", "/api/annotation/%s/bulk-rectangles" % ann["id"], json={"rectangles": [rect]})


# -- instruments, annotator, command line -------------------------------------------------------


def test_faults_and_stats(api):
    emulator = api.emulator
    api.ok("GET", "/api/home/ping")
    stats = emulator.stats()
    assert stats["operations"]["GET home/ping"] == 1 and stats["statuses"]["200"] >= 1
    assert "XGET V/assets" in OPERATIONS
    emulator.set_faults(rate_limit=1.0, fault_operations="GET home/ping")
    response = api.raw("GET", "/api/home/ping")
    assert response.status_code == 429 and response.headers["Retry-After"] == "1"
    assert api.raw("GET", "/api/organization/%s" % emulator.organization_id).status_code == 200
    emulator.set_faults(rate_limit=0.0, server_error=1.0, fault_operations=None)
    assert api.raw("GET", "/api/organization/%s" % emulator.organization_id).status_code == 503
    assert emulator.stats()["faults"]["server_error"] == 1


def test_lost_response_still_applies_the_mutation(api):
    version_id, labels, assets = api.setup()
    api.emulator.set_faults(lost_response=1.0, fault_operations="POST asset/{id}/annotations")
    with pytest.raises(requests.ConnectionError):
        api.raw("POST", "/api/asset/%s/annotations" % assets[0]["id"], json={"duration": 0})
    api.emulator.set_faults(lost_response=0.0, fault_operations=None)
    assert len(api.ok("GET", "/api/dataset/version/%s/annotations/ids" % version_id)) == 1


def test_annotator(api):
    version_id, labels, assets = api.setup()
    annotator = PicselliaAnnotator(api.url, api.emulator.api_key)
    shapes = {"rectangles": [{"x": 2, "y": 2, "w": 5, "h": 5, "label": "dog"}]}
    done = annotator.annotate(version_id, assets[0]["id"], shapes)
    assert done["status"] == "ACCEPTED"
    opened = annotator.open(version_id, assets[0]["id"])
    assert [(r["label"], r["w"]) for r in opened["rectangles"]] == [("dog", 5)]
    edited = [dict(opened["rectangles"][0], w=7)]
    annotator.annotate(
        version_id, assets[0]["id"], {"rectangles": edited, "points": [{"point": [1, 1], "label": "cat"}]}
    )
    again = annotator.open(version_id, assets[0]["id"])
    assert again["id"] == opened["id"] and again["rectangles"][0]["w"] == 7 and len(again["points"]) == 1
    assert annotator.refuse(version_id, assets[0]["id"])["status"] == "REFUSED"
    with pytest.raises(ValueError):
        annotator.annotate(version_id, assets[0]["id"], {"points": [{"point": [1, 1], "label": "bird"}]})


def test_command_line():
    env = dict(os.environ, PYTHONPATH=ROOT)
    process = subprocess.Popen(
        [sys.executable, "-m", "fo_annotation_backends.testing.picsellia", "--port", "0", "--api-key", "cli-key"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and "/" not in url[len("http://") :]
        response = requests.get(url + "/api/home/ping", headers={"Authorization": "Bearer cli-key"}, timeout=10)
        assert response.status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
