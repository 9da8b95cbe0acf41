"""The Picsellia emulator's masks (COCO compressed RLE, checked against the
asset's size) and attributes (a version's configuration, and the values of
shapes and annotations checked against it), over real sockets."""

import numpy as np
import pytest
from test_picsellia_emulator import Api

from fo_annotation_backends.picsellia import rle
from fo_annotation_backends.testing.picsellia_annotator import PicselliaAnnotator

#: the emulator's test images are 64 x 48 (width x height)
HEIGHT, WIDTH = 48, 64


def mask_counts(top=2, left=3, height=5, width=7):
    """The counts string of a rectangle of pixels in a 64 x 48 image."""
    mask = np.zeros((HEIGHT, WIDTH), bool)
    mask[top : top + height, left : left + width] = True
    return rle.encode(mask)


@pytest.fixture
def api(picsellia_emulator):
    return Api(picsellia_emulator)


def _annotation(api, asset):
    return api.ok("POST", "/api/asset/%s/annotations" % asset["id"], json={"duration": 0})


# -- masks -------------------------------------------------------------------------------------


def test_masks_are_written_listed_loaded_read_and_deleted(api):
    version_id, labels, assets = api.setup("MASK")
    annotation = _annotation(api, assets[0])
    path = "/api/annotation/%s" % annotation["id"]
    counts = mask_counts()
    (created,) = api.ok("POST", path + "/bulk-masks", json={"masks": [{"mask": counts, "label_id": labels["cat"]}]})[
        "masks"
    ]
    # as the SDK's MaskSchema reads it: the label object, the counts, area and COCO bbox
    assert set(created) == {"id", "label", "mask", "area", "bbox", "text", "attributes"}
    assert created["label"] == {"id": labels["cat"], "name": "cat", "group_id": None}
    assert created["mask"] == counts and created["area"] == 35 and created["bbox"] == [3, 2, 7, 5]
    assert created["text"] is None and created["attributes"] == {}
    assert api.ok("GET", path + "/masks") == {"items": [created], "count": 1}
    assert api.ok("GET", "/api/mask/%s" % created["id"]) == created
    (loaded,) = api.ok("XGET", "/api/dataset/version/%s/annotations" % version_id, json=[annotation["id"]])
    assert loaded["masks"] == [dict(created, label="cat")]  # a load names the label, as other shapes
    assert loaded["attributes"] == {}
    assert api.raw("DELETE", "/api/mask/%s" % created["id"]).status_code == 204
    api.error(404, "GET", "/api/mask/%s" % created["id"])
    api.error(404, "DELETE", "/api/mask/%s" % created["id"])
    assert api.ok("GET", path + "/masks") == {"items": [], "count": 0}


def test_masks_by_version_type(api):
    for version_type, masks_ok, rectangles_ok in (
        ("MASK", True, False),
        ("MULTI", True, True),
        ("OBJECT_DETECTION", False, True),
        ("SEGMENTATION", False, False),
    ):
        version_id, labels, assets = api.setup(version_type)
        path = "/api/annotation/%s/" % _annotation(api, assets[0])["id"]
        masks = {"masks": [{"mask": mask_counts(), "label_id": labels["cat"]}]}
        rectangles = {"rectangles": [{"x": 1, "y": 1, "w": 2, "h": 2, "label_id": labels["cat"]}]}
        for route, body, ok in (("bulk-masks", masks, masks_ok), ("bulk-rectangles", rectangles, rectangles_ok)):
            if ok:
                api.ok("POST", path + route, json=body)
            else:
                assert "does not accept" in api.error(400, "POST", path + route, json=body)["message"]
        api.emulator.clear()


@pytest.mark.parametrize(
    "mask,why",
    [
        (rle.counts_to_string([10, 5, WIDTH * HEIGHT - 15 + 1]), "pixels"),  # one pixel too many
        (rle.counts_to_string([10, 5, WIDTH * HEIGHT - 15 - 1]), "pixels"),  # one too few
        (rle.encode(np.ones((WIDTH, HEIGHT), bool)[:HEIGHT, : WIDTH - 16]), "pixels"),  # another size
        (rle.encode(np.zeros((HEIGHT, WIDTH), bool)), "empty"),
        ("", "non-empty"),
        ("0 6", "invalid character"),
        ("0P", "inside"),
        ("00N", "negative"),
        (None, "string"),
        ([10, 5, 3057], "string"),  # uncompressed counts are not the wire format
    ],
)
def test_bad_masks_are_refused(api, mask, why):
    version_id, labels, assets = api.setup("MASK")
    annotation = _annotation(api, assets[0])
    body = api.error(
        400,
        "POST",
        "/api/annotation/%s/bulk-masks" % annotation["id"],
        json={"masks": [{"mask": mask, "label_id": labels["cat"]}]},
    )
    assert why in body["message"] and body["detail"]
    assert api.ok("GET", "/api/annotation/%s/masks" % annotation["id"])["count"] == 0


def test_masks_in_save_and_bulk_import(api):
    version_id, labels, assets = api.setup("MASK", count=2)
    a0, a1 = assets[0]["id"], assets[1]["id"]
    first, second = mask_counts(), mask_counts(top=10, left=20, height=3, width=3)
    out = api.ok(
        "POST",
        "/api/dataset/version/%s/bulk-annotations" % version_id,
        json={
            "import_type": "REPLACE",
            "annotations": [
                {
                    "asset_id": a0,
                    "masks": [{"mask": first, "label_id": labels["cat"], "text": "t", "attributes": None}],
                },
                {"asset_id": a1, "masks": [], "attributes": None},
            ],
        },
    )
    assert sorted(out.values()) == [0, 1]
    ann0 = next(k for k, v in out.items() if v == 1)
    saved = api.ok(
        "POST", "/api/annotation/%s/save" % ann0, json={"masks": [{"mask": second, "label_id": labels["dog"]}]}
    )
    assert [(m["mask"], m["label"], m["area"], m["bbox"]) for m in saved["masks"]] == [
        (second, "dog", 9, [20, 10, 3, 3])
    ]
    bad = {
        "import_type": "REPLACE",
        "annotations": [{"asset_id": a1, "masks": [{"mask": "06", "label_id": labels["cat"]}]}],
    }
    api.error(400, "POST", "/api/dataset/version/%s/bulk-annotations" % version_id, json=bad)
    api.error(
        400, "POST", "/api/annotation/%s/save" % ann0, json={"masks": [{"mask": "06", "label_id": labels["cat"]}]}
    )
    assert api.ok("GET", "/api/annotation/%s/masks" % ann0)["count"] == 1


def test_mask_delete_is_refused_on_a_synced_asset(api):
    version_id, labels, assets = api.setup("MASK")
    annotation = _annotation(api, assets[0])
    (mask,) = api.ok(
        "POST",
        "/api/annotation/%s/bulk-masks" % annotation["id"],
        json={"masks": [{"mask": mask_counts(), "label_id": labels["cat"]}]},
    )["masks"]
    campaign = api.ok("POST", "/api/dataset/version/%s/campaigns" % version_id, json={"description": "c"})
    c = "/api/campaigns/annotation/%s" % campaign["id"]
    user = api.ok("GET", "/api/access/organization/%s/users" % api.org)["users"][0]["id"]
    api.ok(
        "POST", c + "/steps", json={"name": "a", "type": "ANNOTATION", "assignees": [{"user_id": user, "weight": 1}]}
    )
    job = api.ok("POST", c + "/assignments/sync", json={})["job"]
    assert api.ok("GET", "/api/v2/job/%s" % job["id"])["status"] == "SUCCEEDED"
    assert "synced" in api.error(400, "DELETE", "/api/mask/%s" % mask["id"])["message"]
    assert api.ok("GET", "/api/mask/%s" % mask["id"]) == mask


# -- attribute configuration -------------------------------------------------------------------


CONFIG = {
    "color": {
        "display_name": "Color",
        "required": True,
        "input_type": "STRING",
        "choices": ["red", "green", "blue"],
        "allow_multiple": True,
    },
    "score": {"display_name": "Score", "required": False, "input_type": "FLOAT", "min": 0.0, "max": 1.0},
    "count": {"required": False, "input_type": "INTEGER", "choices": [1, 2, 3], "allow_multiple": False},
    "is_valid": {"display_name": "Is Valid", "required": True, "input_type": "BOOLEAN"},
    "note": {"required": False, "input_type": "STRING", "archived": True},
}


def test_attribute_configuration_round_trip(api):
    version_id, _, _ = api.setup()
    v = "/api/dataset/version/%s/attributes" % version_id
    assert api.ok("GET", v) == {"attributes": None}
    api.ok("POST", v, json={"attributes": CONFIG})
    got = api.ok("GET", v)["attributes"]
    assert set(got) == set(CONFIG)
    for name, spec in CONFIG.items():
        assert {k: got[name][k] for k in spec} == spec
    assert got["is_valid"]["choices"] is None and got["is_valid"]["archived"] is False
    assert got["note"]["display_name"] is None and got["score"]["allow_multiple"] is None
    api.ok("POST", v, json={"attributes": None})
    assert api.ok("GET", v) == {"attributes": None}
    api.ok("POST", v, json={"attributes": {}})
    assert api.ok("GET", v) == {"attributes": {}}
    api.error(404, "GET", "/api/dataset/version/unknown/attributes")
    api.error(400, "POST", v, json={})
    api.error(400, "POST", v, json={"attributes": [CONFIG]})
    api.error(400, "POST", v, json={"attributes": CONFIG, "extra": 1})


def _spec(**fields):
    return dict({"required": False, "input_type": "STRING"}, **fields)


@pytest.mark.parametrize(
    "spec,why",
    [
        (_spec(display_name=""), "display_name"),
        (_spec(display_name="x" * 257), "display_name"),
        (_spec(display_name=3), "display_name"),
        (_spec(input_type="DATE"), "input_type"),
        ({"required": False}, "missing"),
        ({"input_type": "STRING"}, "missing"),
        (_spec(required="yes"), "required must be a boolean"),
        (_spec(archived=1), "archived must be a boolean"),
        (_spec(colour="red"), "unknown field"),
        (_spec(choices=["only"]), "2 to 64"),
        (_spec(choices=["c%d" % i for i in range(65)]), "2 to 64"),
        (_spec(input_type="INTEGER", choices=[]), "1 to 64"),
        (_spec(choices="red,green"), "2 to 64"),
        (_spec(choices=["a", "a"]), "distinct"),
        (_spec(choices=["a", 1]), "is not of type STRING"),
        (_spec(input_type="INTEGER", choices=[1, 2.5]), "is not of type INTEGER"),
        (_spec(input_type="INTEGER", choices=[True, 2]), "is not of type INTEGER"),
        (_spec(input_type="BOOLEAN", choices=[True, False]), "BOOLEAN attribute has no choices"),
        (_spec(input_type="INTEGER", choices=[1, 2], min=0), "cannot be combined"),
        (_spec(allow_multiple=True), "needs choices"),
        (_spec(allow_multiple="yes", choices=["a", "b"]), "allow_multiple must be"),
        (_spec(min=1), "INTEGER and FLOAT"),
        (_spec(input_type="BOOLEAN", max=1), "INTEGER and FLOAT"),
        (_spec(input_type="FLOAT", min=1, max=1), "less than max"),
        (_spec(input_type="INTEGER", min=5, max=1), "less than max"),
        (_spec(input_type="INTEGER", min="0"), "is not of type FLOAT"),
        (_spec(input_type="FLOAT", max=False), "is not of type FLOAT"),
        (_spec(required=True, archived=True), "archived attribute cannot be required"),
        ("STRING", "must be an object"),
    ],
)
def test_bad_attribute_configurations_are_refused(api, spec, why):
    version_id, _, _ = api.setup()
    v = "/api/dataset/version/%s/attributes" % version_id
    api.ok("POST", v, json={"attributes": {"kept": _spec()}})
    body = api.error(400, "POST", v, json={"attributes": {"a": spec}})
    assert why in body["message"], body
    assert set(api.ok("GET", v)["attributes"]) == {"kept"}  # a refused configuration changes nothing


def test_good_edge_configurations(api):
    version_id, _, _ = api.setup()
    config = {
        "one": _spec(input_type="INTEGER", choices=[7]),
        "bounded": _spec(input_type="INTEGER", min=-3),
        "many": _spec(choices=["c%d" % i for i in range(64)], allow_multiple=False),
        "long": _spec(display_name="x" * 256),
    }
    api.ok("POST", "/api/dataset/version/%s/attributes" % version_id, json={"attributes": config})


# -- attribute values ---------------------------------------------------------------------------


@pytest.fixture
def configured(api):
    version_id, labels, assets = api.setup(count=2)
    api.ok("POST", "/api/dataset/version/%s/attributes" % version_id, json={"attributes": CONFIG})
    return version_id, labels, assets


GOOD_VALUES = {"color": ["red", "blue"], "score": 1, "count": 2, "is_valid": False, "note": "n"}


@pytest.mark.parametrize(
    "values,why",
    [
        ({"shade": "red"}, "unknown attribute 'shade'"),
        ({"color": "red"}, "give a list"),
        ({"color": ["red", "pink"]}, "not one of"),
        ({"color": ["red", "red"]}, "repeated"),
        ({"color": [1]}, "is not of type STRING"),
        ({"score": 1.5}, "outside"),
        ({"score": -0.1}, "outside"),
        ({"score": "0.5"}, "is not of type FLOAT"),
        ({"score": True}, "is not of type FLOAT"),
        ({"score": [0.5]}, "takes one value"),
        ({"count": 4}, "not one of"),
        ({"count": 2.0}, "is not of type INTEGER"),
        ({"count": True}, "is not of type INTEGER"),
        ({"is_valid": 1}, "is not of type BOOLEAN"),
        ({"is_valid": "true"}, "is not of type BOOLEAN"),
        ({"note": 3}, "is not of type STRING"),
        (["color"], "must be an object"),
    ],
)
def test_bad_attribute_values_are_refused_everywhere(api, configured, values, why):
    version_id, labels, assets = configured
    annotation = _annotation(api, assets[0])
    path = "/api/annotation/%s" % annotation["id"]
    rect = {"x": 1, "y": 1, "w": 2, "h": 2, "label_id": labels["cat"]}
    mask = {"mask": mask_counts(), "label_id": labels["cat"]}
    attempts = [
        ("POST", path + "/bulk-rectangles", {"rectangles": [dict(rect, attributes=values)]}),
        ("POST", path + "/bulk-masks", {"masks": [dict(mask, attributes=values)]}),
        ("POST", path + "/save", {"attributes": values}),
        ("POST", path + "/save", {"rectangles": [dict(rect, attributes=values)]}),
        ("PATCH", path, {"attributes": values, "status": "ACCEPTED"}),
        (
            "POST",
            "/api/dataset/version/%s/bulk-annotations" % version_id,
            {"import_type": "REPLACE", "annotations": [{"asset_id": assets[1]["id"], "attributes": values}]},
        ),
        (
            "POST",
            "/api/dataset/version/%s/bulk-annotations" % version_id,
            {
                "import_type": "REPLACE",
                "annotations": [{"asset_id": assets[1]["id"], "rectangles": [dict(rect, attributes=values)]}],
            },
        ),
    ]
    for method, route, body in attempts:
        error = api.error(400, method, route, json=body)
        assert why in error["message"], (route, error)
    (loaded,) = api.ok("XGET", "/api/dataset/version/%s/annotations" % version_id, json=[annotation["id"]])
    assert loaded["attributes"] == {} and loaded["status"] == "PENDING" and loaded["rectangles"] == []
    assert (
        api.ok("GET", "/api/dataset/version/%s/annotations/ids" % version_id, params={"asset_ids": [assets[1]["id"]]})
        == []
    )


def test_good_attribute_values_are_kept(api, configured):
    version_id, labels, assets = configured
    v = "/api/dataset/version/%s" % version_id
    annotation = _annotation(api, assets[0])
    path = "/api/annotation/%s" % annotation["id"]
    rect = {"x": 1, "y": 1, "w": 2, "h": 2, "label_id": labels["cat"], "attributes": {"score": 0, "color": []}}
    (shape,) = api.ok("POST", path + "/bulk-rectangles", json={"rectangles": [rect]})["rectangles"]
    assert shape["attributes"] == {"score": 0, "color": []}
    # required attributes are not enforced (partial work); null is an unset value
    patched = api.ok("PATCH", path, json={"attributes": {"score": 0.25, "is_valid": None}})
    assert patched["attributes"] == {"score": 0.25, "is_valid": None} and patched["status"] == "PENDING"
    saved = api.ok("POST", path + "/save", json={"attributes": GOOD_VALUES, "duration": 2})
    assert saved["attributes"] == GOOD_VALUES and saved["rectangles"] == []
    saved = api.ok("POST", path + "/save", json={"duration": 3})  # the SDK's overwrite: attributes kept
    assert saved["attributes"] == GOOD_VALUES
    assert api.ok("GET", path)["attributes"] == GOOD_VALUES
    listed = api.ok("GET", v + "/annotations")["items"]
    assert listed[0]["attributes"] == GOOD_VALUES
    # a bulk import: REPLACE sets them, CONCATENATE merges into the newest annotation, KEEP leaves them
    a1 = assets[1]["id"]
    imports = v + "/bulk-annotations"
    api.ok(
        "POST", imports, json={"import_type": "REPLACE", "annotations": [{"asset_id": a1, "attributes": {"count": 1}}]}
    )
    api.ok(
        "POST",
        imports,
        json={"import_type": "CONCATENATE", "annotations": [{"asset_id": a1, "attributes": {"score": 1}}]},
    )
    api.ok("POST", imports, json={"import_type": "KEEP", "annotations": [{"asset_id": a1, "attributes": {"count": 3}}]})
    ids = api.ok("GET", v + "/annotations/ids", params={"asset_ids": [a1]})
    assert api.ok("XGET", v + "/annotations", json=ids)[0]["attributes"] == {"count": 1, "score": 1}
    # without a configuration, any object is kept
    api.ok("POST", v + "/attributes", json={"attributes": None})
    assert api.ok("PATCH", path, json={"attributes": {"free": [1, "x"]}})["attributes"] == {"free": [1, "x"]}


def test_annotator_writes_masks_and_image_level_attributes(api):
    version_id, labels, assets = api.setup("MULTI")
    annotator = PicselliaAnnotator(api.url, api.emulator.api_key)
    assert annotator.attributes(version_id) is None
    annotator.set_attributes(version_id, {"weather": _spec(choices=["sun", "rain"])})
    assert annotator.attributes(version_id)["weather"]["choices"] == ["sun", "rain"]
    counts = mask_counts()
    done = annotator.annotate(
        version_id,
        assets[0]["id"],
        {"masks": [{"label": "dog", "mask": counts}]},
        attributes={"weather": "rain"},
    )
    assert done["status"] == "ACCEPTED" and done["attributes"] == {"weather": "rain"}
    loaded = annotator.open(version_id, assets[0]["id"])
    assert [(m["label"], m["mask"]) for m in loaded["masks"]] == [("dog", counts)]
    with pytest.raises(RuntimeError, match="not one of"):
        annotator.annotate(version_id, assets[0]["id"], {}, attributes={"weather": "snow"})
    with pytest.raises(RuntimeError, match="empty"):
        annotator.annotate(
            version_id, assets[0]["id"], {"masks": [{"label": "dog", "mask": rle.encode(np.zeros((HEIGHT, WIDTH)))}]}
        )
