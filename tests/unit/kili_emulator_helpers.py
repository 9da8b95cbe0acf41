"""Helpers and fixtures of the Kili emulator tests: GraphQL documents,
requests with the X-API-Key header, a started emulator, a project, a media
server. The fixtures are imported by the test modules."""

import io
import json
import os
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from PIL import Image

from fo_annotation_backends.testing.kili import KiliEmulator

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

INTERFACE = {
    "jobs": {
        "DETECTION": {
            "mlTask": "OBJECT_DETECTION",
            "tools": ["rectangle"],
            "required": 0,
            "isChild": False,
            "content": {"input": "radio", "categories": {"CAR": {"name": "car", "children": ["COLOR"]}}},
        },
        "COLOR": {
            "mlTask": "CLASSIFICATION",
            "required": 0,
            "isChild": True,
            "content": {"input": "radio", "categories": {"RED": {"name": "red"}}},
        },
        "WEATHER": {
            "mlTask": "CLASSIFICATION",
            "required": 0,
            "isChild": False,
            "content": {"input": "radio", "categories": {"SUNNY": {"name": "sunny"}}},
        },
    }
}

CREATE_PROJECT = "mutation($data: CreateProjectData!) { data: createProject(data: $data) { id } }"
APPEND_ASSETS = (
    "mutation($data: AppendManyAssetsData!, $where: ProjectWhere!) "
    "{ data: appendManyAssets(data: $data, where: $where) { id externalId status resolution { width height } } }"
)
ASSETS = (
    "query($where: AssetWhere!, $first: PageSize!, $skip: Int!) "
    "{ data: assets(where: $where, first: $first, skip: $skip) { %s } }"
)
APPEND_LABELS = (
    "mutation($data: AppendManyLabelsData!, $where: AssetWhere!) "
    "{ data: appendManyLabels(data: $data, where: $where) { id labelType createdAt author { id email } } }"
)
LABELS = (
    "query($where: LabelWhere!, $first: PageSize!, $skip: Int!) "
    "{ data: labels(where: $where, first: $first, skip: $skip) { %s } }"
)
SIGNED_URLS = "query($filePaths: [String!]) { urls: createUploadBucketSignedUrls(filePaths: $filePaths) }"
WEATHER = {"WEATHER": {"categories": [{"name": "SUNNY"}]}}


def headers(emulator, key=None):
    return {"Authorization": "X-API-Key: %s" % (key or emulator.api_key)}


def post(emulator, query, variables=None, key=None, **kwargs):
    """The raw response of a GraphQL request."""
    return requests.post(
        emulator.url,
        json={"query": query, "variables": variables or {}},
        headers=headers(emulator, key),
        timeout=10,
        **kwargs,
    )


def gql(emulator, query, variables=None, key=None):
    """The ``data`` of a GraphQL request that must succeed."""
    response = post(emulator, query, variables, key)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


def gql_error(emulator, query, variables=None, key=None):
    """The first error of a GraphQL request that must fail (HTTP 200)."""
    response = post(emulator, query, variables, key)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["data"] is None and body["errors"], body
    return body["errors"][0]


def reason(error):
    return error["extensions"]["context"]["reason"]


def create_project(emulator, title="Project", input_type="IMAGE", interface=INTERFACE):
    data = {"title": title, "description": "d", "inputType": input_type, "jsonInterface": json.dumps(interface)}
    return gql(emulator, CREATE_PROJECT, {"data": data})["data"]["id"]


def append_assets(emulator, project_id, contents, **arrays):
    data = {"contentArray": contents}
    data.update(arrays)
    return gql(emulator, APPEND_ASSETS, {"data": data, "where": {"id": project_id}})["data"]


def list_assets(emulator, where, fields="id externalId", first=100, skip=0):
    return gql(emulator, ASSETS % fields, {"where": where, "first": first, "skip": skip})["data"]


def append_labels(emulator, label_type, items, where=None, key=None, overwrite=False):
    data = {"labelType": label_type, "overwrite": overwrite, "labelsData": items}
    return gql(emulator, APPEND_LABELS, {"data": data, "where": where or {}}, key)["data"]


def label_item(asset_id, response=WEATHER, **extra):
    return dict({"assetID": asset_id, "jsonResponse": json.dumps(response)}, **extra)


def png_bytes(size=(40, 30)):
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 20, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def hosted(n, project_id=None):
    return ["https://images.example.com/%s/%d.jpg" % (project_id or "p", i) for i in range(n)]


@pytest.fixture
def emulator():
    """An emulator that never fetches remote media (example.com URLs)."""
    with KiliEmulator(api_key="unit-key", resolve_remote_media=False) as emu:
        yield emu


@pytest.fixture
def project(emulator):
    return create_project(emulator)


@pytest.fixture
def media_server(tmp_path):
    """A plain HTTP server of two images: ``(base_url, folder)``."""
    Image.new("RGB", (64, 48)).save(tmp_path / "a.png")
    Image.new("RGB", (10, 20)).save(tmp_path / "b.jpg")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % server.server_address[1], tmp_path
    server.shutdown()
    server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass
