"""PicselliaBackendConfig (every option checked when the config is built, the
token kept out of what is stored), the version plan of PicselliaInterface
(types, label names, attribute definitions, refusals) and the attribute
values Picsellia's definitions refuse."""

import json
import math

import fiftyone as fo
import numpy as np
import pytest

from fo_annotation_backends.core.errors import ParameterError, SchemaError
from fo_annotation_backends.core.schema import FieldSpec, normalize_label_schema
from fo_annotation_backends.picsellia import PicselliaBackendConfig
from fo_annotation_backends.picsellia.client import DEFAULT_URL
from fo_annotation_backends.picsellia.convert import wire_value
from fo_annotation_backends.picsellia.interface import MAX_CHOICES, PicselliaInterface, check_fields

SCHEMA = {"gt": {"type": "detections", "classes": ["cat"]}}


def _config(**kwargs):
    return PicselliaBackendConfig("picsellia", SCHEMA, **kwargs)


def _plan(schema, new_fields=()):
    return PicselliaInterface(normalize_label_schema(schema), new_fields=new_fields)


# --------------------------------------------------------------------------
# the config


def test_defaults():
    config = _config()
    assert (config.label_selection, config.campaign, config.campaign_steps) == ("accepted", False, [])
    assert (config.upload_workers, config.timeout, config.max_retries) == (4, 300, 5)
    assert config.dataset_version_id is None and config.dataset_name is None and config.version_name is None


def test_an_unknown_parameter_is_refused_with_the_closest_name():
    with pytest.raises(ParameterError) as info:
        _config(dataset_versoin_id="x")
    message = str(info.value)
    assert "did you mean 'dataset_version_id'" in message and "Nothing was created" in message


@pytest.mark.parametrize(
    "option, value, named",
    [
        ("url", "app.picsellia.com", "`url`"),
        ("url", "", "`url`"),
        ("url", 7, "`url`"),
        ("organization", "  ", "organization"),
        ("dataset_name", 3, "dataset_name"),
        ("version_name", "", "version_name"),
        ("dataset_version_id", "", "dataset_version_id"),
        ("label_selection", "newest", "label_selection"),
        ("label_selection", None, "label_selection"),
        ("campaign", "yes", "campaign"),
        ("campaign", 1, "campaign"),
        ("campaign_instructions", "", "campaign_instructions"),
        ("upload_workers", 0, "upload_workers"),
        ("upload_workers", 1.5, "upload_workers"),
        ("upload_workers", True, "upload_workers"),
        ("timeout", 0, "timeout"),
        ("timeout", -1.0, "timeout"),
        ("timeout", None, "timeout"),
        ("timeout", "30", "timeout"),
        ("max_retries", -1, "max_retries"),
        ("max_retries", None, "max_retries"),
        ("max_retries", 2.0, "max_retries"),
    ],
)
def test_bad_options_are_refused_when_the_config_is_built(option, value, named):
    with pytest.raises(ParameterError) as info:
        _config(**{option: value})
    assert named in str(info.value)


def test_good_options_pass():
    config = _config(url="http://127.0.0.1:9", upload_workers=1, timeout=0.5, max_retries=0, label_selection="latest")
    assert (config.endpoint, config.upload_workers, config.timeout, config.max_retries) == (
        "http://127.0.0.1:9",
        1,
        0.5,
        0,
    )
    assert config.label_selection == "latest"
    assert _config(campaign=True).campaign is True


@pytest.mark.parametrize(
    "given", [{"dataset_name": "d"}, {"version_name": "v"}, {"dataset_name": "d", "version_name": "v"}]
)
def test_an_existing_version_excludes_naming_a_new_one(given):
    with pytest.raises(ParameterError, match="either `dataset_version_id`"):
        _config(dataset_version_id="0b5c1f7e-0000-4000-8000-000000000001", **given)
    config = _config(**given)  # without dataset_version_id: a new version, named
    assert (config.dataset_name, config.version_name) == (given.get("dataset_name"), given.get("version_name"))
    assert _config(dataset_version_id="v-1").dataset_version_id == "v-1"


def test_campaign_steps_are_normalised_and_imply_a_campaign():
    config = _config(
        campaign_steps=[{"assignees": ["ann"]}, {"name": "Check", "type": "REVIEW", "assignees": ("rev", "ann")}]
    )
    assert config.campaign is True
    assert config.campaign_steps == [
        {"name": "Annotation 1", "type": "ANNOTATION", "assignees": ["ann"]},
        {"name": "Check", "type": "REVIEW", "assignees": ["rev", "ann"]},
    ]
    assert _config(campaign_steps=({"name": "Only"},)).campaign_steps == [
        {"name": "Only", "type": "ANNOTATION", "assignees": []}
    ]
    assert (_config(campaign_steps=[]).campaign, _config(campaign_steps=[]).campaign_steps) == (False, [])


def test_a_stored_config_builds_again():
    """What FiftyOne stores of a run is what a later session builds the config from."""
    for options in ({}, {"campaign_steps": [{"name": "Draw", "assignees": ["ann"]}], "label_selection": "latest"}):
        config = _config(**options)
        stored = json.loads(json.dumps(config.serialize(), default=str))
        again = PicselliaBackendConfig.from_dict(stored)
        assert (again.campaign, again.campaign_steps, again.label_selection) == (
            config.campaign,
            config.campaign_steps,
            config.label_selection,
        )


@pytest.mark.parametrize(
    "steps, match",
    [
        ("Annotation", "a list of step dicts"),
        ({"name": "a"}, "a list of step dicts"),
        (["Annotation"], "Each campaign step is a dict"),
        ([{"name": "a", "assignee": ["x"]}], "Each campaign step is a dict"),
        ([{"type": "LABEL"}], "ANNOTATION or REVIEW"),
        ([{"name": 3}], "`name` is a string"),
        ([{"assignees": "ann"}], "`name` is a string and `assignees` a list"),
        ([{"assignees": ["ann", ""]}], "usernames"),
        ([{"assignees": [7]}], "usernames"),
        ([{"type": "REVIEW"}], "first step must be an ANNOTATION step"),
        ([{"name": "a"}, {"name": "a", "type": "REVIEW"}], "unique"),
    ],
)
def test_bad_campaign_steps_are_refused(steps, match):
    with pytest.raises(ParameterError, match=match):
        _config(campaign_steps=steps)


def test_the_token_is_kept_out_of_the_stored_config_and_reprs():
    config = _config(api_key="secret-token-123456", url="http://127.0.0.1:9")
    assert "secret-token-123456" not in json.dumps(config.serialize(), default=str)
    assert "secret-token-123456" not in repr(config) and "secret-token-123456" not in str(config)
    assert config.api_key == "secret-token-123456"
    assert "127.0.0.1:9" in repr(config)


def test_credentials_and_url_come_from_the_environment(monkeypatch):
    monkeypatch.setitem(fo.annotation_config.backends, "picsellia", {})
    for name in ("FIFTYONE_PICSELLIA_API_KEY", "PICSELLIA_TOKEN", "FIFTYONE_PICSELLIA_URL"):
        monkeypatch.delenv(name, raising=False)
    config = _config()
    assert config.endpoint == DEFAULT_URL
    monkeypatch.setenv("PICSELLIA_TOKEN", "sdk-token")  # the name the official SDK reads
    monkeypatch.setenv("FIFTYONE_PICSELLIA_URL", "http://127.0.0.1:9")
    config.load_credentials()
    assert config.api_key == "sdk-token" and config.endpoint == "http://127.0.0.1:9"
    monkeypatch.setenv("FIFTYONE_PICSELLIA_API_KEY", "fo-token")
    config = _config()
    config.load_credentials()
    assert config.api_key == "fo-token"


# --------------------------------------------------------------------------
# the version plan


@pytest.mark.parametrize(
    "label_type, version_type",
    [
        ("detections", "OBJECT_DETECTION"),
        ("detection", "OBJECT_DETECTION"),
        ("polygons", "SEGMENTATION"),
        ("polylines", "LINE"),
        ("keypoints", "KEYPOINT"),
        ("classification", "CLASSIFICATION"),
        ("classifications", "CLASSIFICATION"),
        ("instances", "MASK"),
    ],
)
def test_one_kind_of_shape_gives_its_version_type(label_type, version_type):
    assert _plan({"f": {"type": label_type, "classes": ["a", "b"]}}).version_type == version_type


def test_segmentations_are_masks_named_by_their_targets():
    interface = _plan({"seg": {"type": "segmentation", "mask_targets": {2: "car", 1: "road"}}})
    assert interface.version_type == "MASK"
    assert interface.label_names == {"seg": {"road": "road", "car": "car"}}


def test_mixed_kinds_are_a_multi_version_and_scalars_alone_a_classification_one():
    mixed = _plan({"a": {"type": "detections", "classes": ["x"]}, "b": {"type": "polylines", "classes": ["x"]}})
    assert mixed.version_type == "MULTI"
    assert mixed.label_names == {"a": {"x": "x"}, "b": {"x": "x"}}  # different shape kinds: no clash
    # the same kind twice stays one type
    same = _plan({"a": {"type": "detections", "classes": ["x"]}, "b": {"type": "detections", "classes": ["y"]}})
    assert same.version_type == "OBJECT_DETECTION"
    scalars = _plan({"note": {"type": "scalar"}})
    assert scalars.version_type == "CLASSIFICATION" and scalars.label_names == {}
    # instances and polygons: MULTI
    assert (
        _plan({"a": {"type": "instances", "classes": ["x"]}, "b": {"type": "polygons", "classes": ["x"]}}).version_type
        == "MULTI"
    )


def test_classes_shared_by_fields_of_one_kind_are_named_after_their_field():
    interface = _plan(
        {
            "gt": {"type": "detections", "classes": ["cat", "dog"]},
            "pred": {"type": "detections", "classes": ["cat", "bird"]},
            "whole": {"type": "classification", "classes": ["cat"]},
        }
    )
    assert interface.label_names == {
        "gt": {"cat": "gt/cat", "dog": "dog"},
        "pred": {"cat": "pred/cat", "bird": "bird"},
        "whole": {"cat": "cat"},
    }
    assert interface.all_label_names() == ["gt/cat", "dog", "pred/cat", "bird", "cat"]
    assert interface.owner("rectangles", "pred/cat") == ("pred", "cat")
    assert interface.owner("classifications", "cat") == ("whole", "cat")
    assert interface.owner("rectangles", "cat") is None and interface.owner("rectangles", None) is None


ATTRIBUTES = {
    "pose": {"type": "select", "values": ["front", "side"]},
    "occluded": {"type": "checkbox"},
    "note": {"type": "text"},
    "rank": {"type": "radio", "values": [1, 2, 3]},
    "weight": {"type": "select", "values": [0.5, 1]},
    "single": {"type": "select", "values": ["only"]},
    "flag": {"type": "radio", "values": [True, False]},
}


def test_label_attributes_become_version_attribute_definitions():
    interface = _plan({"gt": {"type": "detections", "classes": ["cat"], "attributes": ATTRIBUTES}})
    base = {"required": False}
    assert interface.attribute_names == {"gt": {name: name for name in ATTRIBUTES}}
    attributes = interface.attributes
    assert attributes["pose"] == dict(
        base, display_name="pose", input_type="STRING", choices=["front", "side"], allow_multiple=False
    )
    assert attributes["occluded"] == dict(base, display_name="occluded", input_type="BOOLEAN")
    assert attributes["note"] == dict(base, display_name="note", input_type="STRING")
    assert attributes["rank"] == dict(
        base, display_name="rank", input_type="INTEGER", choices=[1, 2, 3], allow_multiple=False
    )
    assert attributes["weight"]["input_type"] == "FLOAT" and attributes["weight"]["choices"] == [0.5, 1]
    assert "choices" not in attributes["single"]  # Picsellia: a string attribute offers 2 to 64 choices
    assert attributes["flag"] == dict(base, display_name="flag", input_type="BOOLEAN")  # no choices on booleans


def test_attributes_with_one_name_and_two_definitions_are_named_after_their_field():
    interface = _plan(
        {
            "gt": {
                "type": "detections",
                "classes": ["cat"],
                "attributes": {"kind": {"type": "text"}, "same": {"type": "checkbox"}},
            },
            "pred": {
                "type": "polygons",
                "classes": ["cat"],
                "attributes": {"kind": {"type": "checkbox"}, "same": {"type": "checkbox"}},
            },
            "lines": {"type": "polylines", "classes": ["l"], "attributes": {"quality": {"type": "checkbox"}}},
            "quality": {"type": "scalar"},
        }
    )
    assert interface.attribute_names == {
        "gt": {"kind": "gt.kind", "same": "same"},
        "pred": {"kind": "pred.kind", "same": "same"},
        "lines": {"quality": "lines.quality"},  # a scalar field holds the bare name
    }
    assert interface.scalar_names == {"quality": "quality"}
    assert interface.attributes["gt.kind"]["input_type"] == "STRING"
    assert interface.attributes["pred.kind"]["input_type"] == "BOOLEAN"
    assert interface.attributes["quality"]["input_type"] == "STRING"
    again = PicselliaInterface(interface.fields, mapping=interface.to_dict())
    assert again.to_dict() == interface.to_dict()


def test_scalar_fields_are_image_level_attributes(monkeypatch):
    fields = normalize_label_schema(
        {
            "count": {"type": "scalar"},
            "quality": {"type": "scalar", "classes": ["good", "bad"]},
            "level": {"type": "scalar", "classes": [1, 2, 3]},
            "checked": {"type": "scalar", "classes": [True, False]},
        }
    )
    # a new field without classes could hold numbers: read back as numbers
    interface = PicselliaInterface(fields, new_fields=["count"])
    assert interface.scalar_names == {f: f for f in fields}
    attributes = interface.attributes
    assert attributes["count"]["input_type"] == "FLOAT" and interface.is_numeric_scalar("count")
    assert attributes["quality"]["input_type"] == "STRING" and attributes["quality"]["choices"] == ["good", "bad"]
    assert attributes["level"]["input_type"] == "INTEGER" and interface.is_numeric_scalar("level")
    assert attributes["checked"]["input_type"] == "BOOLEAN" and "choices" not in attributes["checked"]
    assert not interface.is_numeric_scalar("quality")
    existing = PicselliaInterface(fields)  # an existing string field stays a string
    assert existing.attributes["count"]["input_type"] == "STRING"


def test_what_picsellia_cannot_hold_is_refused_before_upload():
    too_many = [str(i) for i in range(MAX_CHOICES + 1)]
    with pytest.raises(SchemaError, match="at most 64 choices"):
        _plan({"q": {"type": "scalar", "classes": too_many}})
    with pytest.raises(SchemaError, match="not supported by the Picsellia backend"):
        check_fields({"v": FieldSpec(name="v", type="temporal_detections", classes=["a"])})
    with pytest.raises(SchemaError, match="needs classes"):
        check_fields({"d": FieldSpec(name="d", type="detections", classes=[])})
    with pytest.raises(SchemaError, match="needs mask_targets"):
        check_fields({"s": FieldSpec(name="s", type="segmentation", mask_targets={})})
    # 64 choices are fine
    assert len(_plan({"q": {"type": "scalar", "classes": too_many[:-1]}}).attributes["q"]["choices"]) == MAX_CHOICES


# --------------------------------------------------------------------------
# attribute values


@pytest.mark.parametrize(
    "definition, value, match",
    [
        ({"input_type": "BOOLEAN"}, "yes", "not a boolean"),
        ({"input_type": "BOOLEAN"}, 1, "not a boolean"),
        ({"input_type": "INTEGER"}, 1.5, "not an integer"),
        ({"input_type": "INTEGER"}, True, "not an integer"),
        ({"input_type": "INTEGER"}, "3", "not an integer"),
        ({"input_type": "FLOAT"}, math.nan, "not a finite number"),
        ({"input_type": "FLOAT"}, math.inf, "not a finite number"),
        ({"input_type": "FLOAT"}, False, "not a finite number"),
        ({"input_type": "FLOAT"}, "0.5", "not a finite number"),
        ({"input_type": "STRING", "choices": ["a", "b"]}, "c", "not one of the attribute's choices"),
        ({"input_type": "INTEGER", "choices": [1, 2]}, 3, "not one of the attribute's choices"),
    ],
)
def test_values_a_definition_cannot_hold_are_refused_naming_where(definition, value, match):
    with pytest.raises(SchemaError, match=match) as info:
        wire_value(definition, value, "gt.rank")
    assert "'gt.rank'" in str(info.value)


def test_values_a_definition_holds_are_sent_as_its_type():
    assert wire_value({"input_type": "INTEGER"}, 3.0, "w") == 3 and isinstance(
        wire_value({"input_type": "INTEGER"}, 3.0, "w"), int
    )
    assert wire_value({"input_type": "INTEGER"}, np.int64(4), "w") == 4
    assert wire_value({"input_type": "FLOAT"}, 2, "w") == 2
    assert wire_value({"input_type": "STRING"}, 12, "w") == "12"
    assert wire_value({"input_type": "BOOLEAN"}, np.bool_(True), "w") is True
    assert wire_value({"input_type": "STRING", "choices": ["a", "b"]}, "b", "w") == "b"
