"""The Picsellia emulator's one-shape routes, as the SDK's shape classes
call them (``Rectangle.update``/``delete``, ``Polygon``, ``Line``, ``Point``,
``Classification``; ``Mask.delete``), and a version found by id (the SDK's
``client.get_dataset_version_by_id``), over real sockets."""

import pytest
from test_picsellia_emulator import Api
from test_picsellia_emulator_masks import mask_counts

from fo_annotation_backends.testing.picsellia_annotator import PicselliaAnnotator

#: a shape of each kind with a one-shape route (64 x 48 images), and a full edit of it
SHAPES = {
    "rectangle": ({"x": 2, "y": 3, "w": 10, "h": 8}, {"x": 20, "y": 10, "w": 44, "h": 38}),
    "polygon": ({"polygon": [[1, 1], [10, 1], [5, 9]]}, {"polygon": [[0, 0], [64, 0], [64, 48], [0, 48]]}),
    "line": ({"line": [[1, 1], [10, 1]]}, {"line": [[0, 48], [64, 0], [30, 30]]}),
    "point": ({"point": [4, 5]}, {"point": [64, 48]}),
    "classification": ({}, {}),
}


@pytest.fixture
def api(picsellia_emulator):
    return Api(picsellia_emulator)


def _one(api, labels, assets, name, text="fo-label-id", asset=0):
    """An annotation holding one shape of a kind; returns (annotation id, shape)."""
    annotation = api.ok("POST", "/api/asset/%s/annotations" % assets[asset]["id"], json={"duration": 0})
    geometry = SHAPES[name][0]
    body = {name + "s": [dict(geometry, label_id=labels["cat"], text=text)]}
    (shape,) = api.ok("POST", "/api/annotation/%s/bulk-%ss" % (annotation["id"], name), json=body)[name + "s"]
    return annotation["id"], shape


def _loaded(api, version_id, annotation_id, name):
    (loaded,) = api.ok("XGET", "/api/dataset/version/%s/annotations" % version_id, json=[annotation_id])
    return loaded[name + "s"]


# -- a version by id ---------------------------------------------------------------------------


def test_a_version_is_found_by_id_in_its_organization(api):
    version = api.version("OBJECT_DETECTION")
    path = "/api/organization/%s/datasetversions/find" % api.org
    found = api.ok("GET", path, params={"id": version["id"]})
    assert found == api.ok("GET", "/api/dataset/version/%s" % version["id"])
    assert {"id", "origin_name", "origin_id", "version", "type"} <= set(found)  # the SDK's DatasetVersionSchema
    assert found["type"] == "OBJECT_DETECTION" and found["version"] == "initial"
    assert "give id" in api.error(400, "GET", path)["message"]
    api.error(404, "GET", path, params={"id": "00000000-0000-0000-0000-000000000000"})
    api.error(404, "GET", "/api/organization/nope/datasetversions/find", params={"id": version["id"]})
    api.ok("DELETE", "/api/dataset/version/%s" % version["id"])
    api.error(404, "GET", path, params={"id": version["id"]})


# -- one shape: read, edit, delete -------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_one_shape_is_read_edited_in_part_and_deleted(api, name):
    version_id, labels, assets = api.setup("MULTI")
    annotation_id, shape = _one(api, labels, assets, name)
    path = "/api/%s/%s" % (name, shape["id"])
    assert api.ok("GET", path) == shape
    assert shape["label"] == {"id": labels["cat"], "name": "cat", "group_id": None}

    # a new label only (what ``update(label=...)`` sends): the geometry and text are kept
    relabelled = api.ok("PATCH", path, json={"label_id": labels["dog"]})
    assert relabelled == dict(shape, label={"id": labels["dog"], "name": "dog", "group_id": None})
    # the geometry and the text given again (``Rectangle.update(x, y, w, h, text=...)``)
    edit = SHAPES[name][1]
    edited = api.ok("PATCH", path, json=dict(edit, text="fo-label-id"))
    assert edited == dict(relabelled, **edit) and edited["id"] == shape["id"]
    assert api.ok("GET", path) == edited
    (loaded,) = _loaded(api, version_id, annotation_id, name)
    assert loaded == dict(edited, label="dog")  # a load names the label
    assert api.ok("PATCH", path, json={}) == edited  # nothing given: nothing changes

    assert api.raw("DELETE", path).status_code == 204
    assert _loaded(api, version_id, annotation_id, name) == []
    for method in ("GET", "PATCH", "DELETE"):
        assert "not found" in api.error(404, method, path, json={})["message"]


def test_a_shape_id_is_found_only_under_its_own_kind(api):
    _, labels, assets = api.setup("MULTI")
    _, rectangle = _one(api, labels, assets, "rectangle")
    api.error(404, "GET", "/api/polygon/%s" % rectangle["id"])
    api.error(404, "DELETE", "/api/point/%s" % rectangle["id"])
    assert api.ok("GET", "/api/rectangle/%s" % rectangle["id"]) == rectangle


# edits the service refuses, with the status: out of the image, not integers,
# a label of no version, unknown or misspelt fields, wrong geometry
BAD_EDITS = [
    ("rectangle", {"x": 60}, 400, "outside"),
    ("rectangle", {"w": 0}, 400, "> 0"),
    ("rectangle", {"x": -1}, 400, "outside"),
    ("rectangle", {"h": 46}, 400, "outside"),
    ("rectangle", {"w": 10.5}, 400, "integer"),
    ("rectangle", {"x": True}, 400, "integer"),
    ("rectangle", {"label_id": "not-a-label"}, 404, "not a label"),
    ("rectangle", {"label": "dog"}, 400, "unknown field"),
    ("rectangle", {"polygon": [[1, 1], [2, 2], [3, 3]]}, 400, "unknown field"),
    ("rectangle", {"text": 3}, 400, "text"),
    ("rectangle", {"attributes": []}, 400, "attributes"),
    ("polygon", {"polygon": [[1, 1], [2, 2]]}, 400, "at least 3"),
    ("polygon", {"polygon": [[1, 1], [2, 2], [65, 3]]}, 400, "outside"),
    ("line", {"line": [[1, 1]]}, 400, "at least 2"),
    ("line", {"line": [[1, 1], [1, 49]]}, 400, "outside"),
    ("point", {"point": [1, 2, 3]}, 400, "2 numbers"),
    ("point", {"point": [-1, 2]}, 400, "outside"),
    ("point", {"point": ["1", 2]}, 400, "number"),
    ("classification", {"x": 1}, 400, "unknown field"),
]


@pytest.mark.parametrize("name, edit, status, why", BAD_EDITS)
def test_bad_edits_are_refused_and_change_nothing(api, name, edit, status, why):
    version_id, labels, assets = api.setup("MULTI")
    annotation_id, shape = _one(api, labels, assets, name)
    path = "/api/%s/%s" % (name, shape["id"])
    assert why in api.error(status, "PATCH", path, json=edit)["message"]
    assert api.ok("GET", path) == shape
    (loaded,) = _loaded(api, version_id, annotation_id, name)
    assert loaded == dict(shape, label="cat")


def test_edited_attributes_are_checked_against_the_versions_configuration(api):
    version_id, labels, assets = api.setup("OBJECT_DETECTION")
    config = {"color": {"required": False, "input_type": "STRING", "choices": ["red", "blue"], "allow_multiple": False}}
    api.ok("POST", "/api/dataset/version/%s/attributes" % version_id, json={"attributes": config})
    _, shape = _one(api, labels, assets, "rectangle")
    path = "/api/rectangle/%s" % shape["id"]
    assert api.ok("PATCH", path, json={"attributes": {"color": "red"}})["attributes"] == {"color": "red"}
    api.error(400, "PATCH", path, json={"attributes": {"color": "green"}})
    api.error(400, "PATCH", path, json={"attributes": {"size": 3}})
    assert api.ok("GET", path)["attributes"] == {"color": "red"}


def test_one_shape_writes_are_refused_on_an_asset_synced_in_a_campaign(api):
    version_id, labels, assets = api.setup("MULTI")
    _, shape = _one(api, labels, assets, "rectangle")
    path = "/api/rectangle/%s" % shape["id"]
    shape = api.ok("PATCH", path, json={"x": 3})  # not synced yet: an edit is taken
    campaign = api.ok("POST", "/api/dataset/version/%s/campaigns" % version_id, json={"description": "c"})
    c = "/api/campaigns/annotation/%s" % campaign["id"]
    user = api.ok("GET", "/api/access/organization/%s/users" % api.org)["users"][0]["id"]
    api.ok(
        "POST", c + "/steps", json={"name": "a", "type": "ANNOTATION", "assignees": [{"user_id": user, "weight": 1}]}
    )
    job = api.ok("POST", c + "/assignments/sync", json={})["job"]
    assert api.ok("GET", "/api/v2/job/%s" % job["id"])["status"] == "SUCCEEDED"
    assert "synced" in api.error(400, "PATCH", path, json={"x": 4})["message"]
    assert "synced" in api.error(400, "DELETE", path)["message"]
    assert api.ok("GET", path) == shape and shape["x"] == 3


def test_masks_have_no_edit_and_keypoints_no_one_shape_route(api):
    _, labels, assets = api.setup("MULTI")
    annotation = api.ok("POST", "/api/asset/%s/annotations" % assets[0]["id"], json={"duration": 0})
    path = "/api/annotation/%s" % annotation["id"]
    (mask,) = api.ok(
        "POST", path + "/bulk-masks", json={"masks": [{"mask": mask_counts(), "label_id": labels["cat"]}]}
    )["masks"]
    (pose,) = api.ok(
        "POST", path + "/bulk-keypoints", json={"keypoints": [{"keypoints": [[1, 2, 2]], "label_id": labels["cat"]}]}
    )["keypoints"]
    assert "route" in api.error(404, "PATCH", "/api/mask/%s" % mask["id"], json={"text": "x"})["message"]
    api.error(404, "GET", "/api/keypoint/%s" % pose["id"])
    assert api.raw("DELETE", "/api/mask/%s" % mask["id"]).status_code == 204
    assert api.ok("GET", path + "/keypoints")["count"] == 1


def test_the_annotator_edits_and_deletes_one_shape(api):
    version_id, labels, assets = api.setup("MULTI")
    annotation_id, shape = _one(api, labels, assets, "rectangle")
    annotator = PicselliaAnnotator(api.url, api.emulator.api_key)
    edited = annotator.edit_shape("rectangle", shape["id"], x=5, label_id=labels["dog"])
    assert (edited["x"], edited["y"], edited["label"]["name"], edited["text"]) == (5, 3, "dog", "fo-label-id")
    annotator.delete_shape("rectangle", shape["id"])
    assert _loaded(api, version_id, annotation_id, "rectangle") == []
    with pytest.raises(RuntimeError, match="404"):
        annotator.delete_shape("rectangle", shape["id"])
