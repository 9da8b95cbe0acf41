"""normalize_label_schema, AttributeSpec/FieldSpec parsing, safe_identifier."""

import re

import fiftyone.core.fields as fof
import pytest

from fo_annotation_backends.core.errors import SchemaError
from fo_annotation_backends.core.schema import (
    AttributeSpec,
    FieldSpec,
    normalize_label_schema,
    safe_identifier,
)


class FieldTypes:
    """Just enough of a sample collection for ``get_field``."""

    def __init__(self, **fields):
        self._fields = fields

    def get_field(self, name):
        return self._fields.get(name)


@pytest.mark.parametrize(
    "label_type, normalized, multiple",
    [
        ("classification", "classification", False),
        ("classifications", "classifications", True),
        ("detection", "detections", False),
        ("detections", "detections", True),
        ("instance", "instances", False),
        ("instances", "instances", True),
        ("polyline", "polylines", False),
        ("polylines", "polylines", True),
        ("polygon", "polygons", False),
        ("polygons", "polygons", True),
        ("keypoint", "keypoints", False),
        ("keypoints", "keypoints", True),
    ],
)
def test_singular_and_plural_types_are_normalized(label_type, normalized, multiple):
    specs = normalize_label_schema({"f": {"type": label_type, "classes": ["a", "b"]}})
    spec = specs["f"]
    assert spec.name == "f"
    assert spec.type == normalized
    assert spec.multiple is multiple
    assert spec.classes == ["a", "b"]


@pytest.mark.parametrize(
    "label_type, return_type",
    [
        ("detection", "detections"),
        ("instances", "detections"),
        ("polygons", "polylines"),
        ("classification", "classifications"),
        ("keypoint", "keypoints"),
    ],
)
def test_return_types(label_type, return_type):
    spec = normalize_label_schema({"f": {"type": label_type, "classes": ["a"]}})["f"]
    assert spec.return_type == return_type


def test_schema_order_and_edit_permissions_are_kept():
    specs = normalize_label_schema(
        {
            "z": {"type": "detections", "classes": ["a"], "allow_additions": False, "existing_field": True},
            "a": {"type": "classification", "classes": ["b"], "allow_spatial_edits": False},
        }
    )
    assert list(specs) == ["z", "a"]
    assert specs["z"].allow_additions is False
    assert specs["z"].existing is True
    assert specs["z"].allow_deletions is True
    assert specs["a"].allow_spatial_edits is False
    assert specs["a"].existing is False


def test_empty_schema_raises():
    with pytest.raises(SchemaError):
        normalize_label_schema({})


def test_unknown_type_raises_naming_field_and_type():
    with pytest.raises(SchemaError, match=r"'ground_truth'.*'cuboids'"):
        normalize_label_schema({"ground_truth": {"type": "cuboids", "classes": ["a"]}})


def test_unsupported_type_for_backend_raises():
    with pytest.raises(SchemaError, match="not supported"):
        normalize_label_schema({"f": {"type": "keypoints", "classes": ["a"]}}, supported_types=("detections",))


def test_missing_classes_raises_naming_the_field():
    with pytest.raises(SchemaError, match="my_boxes") as info:
        normalize_label_schema({"my_boxes": {"type": "detections"}})
    assert "classes" in str(info.value)


def test_repeated_class_names_are_deduplicated_in_order():
    schema = {"f": {"type": "detections", "classes": ["b", "a", {"classes": ["b", "c"]}, "a"]}}
    assert normalize_label_schema(schema)["f"].classes == ["b", "a", "c"]


def test_two_mask_values_with_the_same_class_raise():
    schema = {"seg": {"type": "segmentation", "mask_targets": {1: "car", 2: "car"}}}
    with pytest.raises(SchemaError, match=r"'seg'.*more than once"):
        normalize_label_schema(schema)


@pytest.mark.parametrize("attr_type", ["select", "radio"])
def test_select_attribute_without_values_raises(attr_type):
    schema = {"f": {"type": "detections", "classes": ["a"], "attributes": {"color": {"type": attr_type}}}}
    with pytest.raises(SchemaError, match=r"'color'.*'f'.*values"):
        normalize_label_schema(schema)


def test_unknown_attribute_type_raises():
    schema = {"f": {"type": "detections", "classes": ["a"], "attributes": {"x": {"type": "slider"}}}}
    with pytest.raises(SchemaError, match="slider"):
        normalize_label_schema(schema)


def test_segmentation_without_mask_targets_raises():
    with pytest.raises(SchemaError, match=r"'seg'.*mask_targets"):
        normalize_label_schema({"seg": {"type": "segmentation"}})


def test_rgb_hex_mask_targets_raise():
    schema = {"seg": {"type": "segmentation", "mask_targets": {"#ff0000": "road", "#00ff00": "car"}}}
    with pytest.raises(SchemaError, match="RGB"):
        normalize_label_schema(schema)


def test_mask_target_out_of_range_raises():
    with pytest.raises(SchemaError, match="0-255"):
        normalize_label_schema({"seg": {"type": "segmentation", "mask_targets": {300: "x"}}})


def test_segmentation_classes_come_from_mask_targets_without_background():
    schema = {"seg": {"type": "segmentation", "mask_targets": {"0": "background", "2": "car", "1": "road"}}}
    spec = normalize_label_schema(schema)["seg"]
    assert spec.mask_targets == {0: "background", 2: "car", 1: "road"}
    assert spec.classes == ["car", "road"]
    assert spec.class_to_value == {"background": 0, "car": 2, "road": 1}
    assert spec.return_type == "segmentation"


def test_class_dicts_are_flattened_with_their_attributes():
    schema = {
        "f": {
            "type": "detections",
            "classes": [
                "plain",
                {"classes": ["car", "truck"], "attributes": {"make": {"type": "text"}}},
                {"classes": ["person"], "attributes": {"age": {"type": "select", "values": [1, 2, 3]}}},
            ],
            "attributes": {"occluded": {"type": "checkbox"}},
        }
    }
    spec = normalize_label_schema(schema)["f"]
    assert spec.classes == ["plain", "car", "truck", "person"]
    assert set(spec.attributes) == {"occluded", "make", "age"}
    assert spec.attributes["age"] == AttributeSpec(name="age", type="select", values=[1, 2, 3])
    assert spec.attributes["occluded"].type == "checkbox"


def test_non_string_classes_become_strings():
    spec = normalize_label_schema({"f": {"type": "classification", "classes": [1, 2]}})["f"]
    assert spec.classes == ["1", "2"]


def test_attribute_default_is_kept():
    schema = {"f": {"type": "detections", "classes": ["a"], "attributes": {"q": {"type": "text", "default": "ok"}}}}
    attr = normalize_label_schema(schema)["f"].attributes["q"]
    assert attr.default == "ok"
    assert attr.parse(None) == "ok"


# --------------------------------------------------------------------------
# scalar fields
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, scalar_type",
    [
        (fof.IntField(), "int"),
        (fof.FloatField(), "float"),
        (fof.BooleanField(), "bool"),
        (fof.StringField(), "str"),
    ],
)
def test_scalar_type_is_read_from_the_existing_field(field, scalar_type):
    spec = normalize_label_schema({"s": {"type": "scalar"}}, samples=FieldTypes(s=field))["s"]
    assert spec.type == "scalar"
    assert spec.multiple is False
    assert spec.scalar_type == scalar_type


def test_new_scalar_without_classes_is_str_and_needs_no_classes():
    spec = normalize_label_schema({"s": {"type": "scalar"}}, samples=FieldTypes())["s"]
    assert spec.scalar_type == "str"
    assert spec.classes == []


def test_new_scalar_with_boolean_classes_is_bool():
    spec = normalize_label_schema({"s": {"type": "scalar", "classes": [True, False]}})["s"]
    assert spec.scalar_type == "bool"
    assert spec.classes == ["True", "False"]
    assert spec.parse_scalar(spec.classes[1]) is False


# --------------------------------------------------------------------------
# parsing values back
# --------------------------------------------------------------------------


def test_attribute_parse_returns_typed_values():
    attr = AttributeSpec(name="size", type="select", values=[1, 2.5, "big", True])
    assert attr.parse("1") == 1 and isinstance(attr.parse("1"), int)
    assert attr.parse("2.5") == 2.5 and isinstance(attr.parse("2.5"), float)
    assert attr.parse("big") == "big"
    assert attr.parse("True") is True
    assert attr.parse("unknown") == "unknown"


@pytest.mark.parametrize("raw", [True, "true", "True", "1", "yes", "on", "occluded", "Occluded"])
def test_checkbox_parse_true(raw):
    assert AttributeSpec(name="occluded", type="checkbox").parse(raw) is True


@pytest.mark.parametrize("raw", [False, "false", "0", "no", "", "other"])
def test_checkbox_parse_false(raw):
    assert AttributeSpec(name="occluded", type="checkbox").parse(raw) is False


def test_text_parse_keeps_the_string():
    assert AttributeSpec(name="note", type="text").parse("42") == "42"


@pytest.mark.parametrize(
    "scalar_type, raw, expected",
    [
        ("int", "3", 3),
        ("int", 4.0, 4),
        ("int", "5.0", 5),
        ("float", "2.5", 2.5),
        ("float", 3, 3.0),
        ("bool", "True", True),
        ("bool", "false", False),
        ("bool", True, True),
        ("str", "hello", "hello"),
        ("str", 12, "12"),
        ("int", None, None),
    ],
)
def test_field_parse_scalar(scalar_type, raw, expected):
    value = FieldSpec(name="s", type="scalar", scalar_type=scalar_type).parse_scalar(raw)
    assert value == expected
    assert type(value) is type(expected)


def test_field_parse_scalar_rejects_garbage_for_numbers():
    with pytest.raises(SchemaError, match=r"'count'.*int"):
        FieldSpec(name="count", type="scalar", scalar_type="int").parse_scalar("many")


# --------------------------------------------------------------------------
# safe_identifier
# --------------------------------------------------------------------------

IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@pytest.mark.parametrize(
    "name, expected",
    [
        ("ground_truth", "ground_truth"),
        ("ground truth", "ground_truth"),
        ("Größe (cm)!", "Gr_e_cm"),
        ("日本", "f"),
        ("1st", "f_1st"),
        ("_hidden", "hidden"),
        ("a.b-c/d", "a_b_c_d"),
        ("", "f"),
    ],
)
def test_safe_identifier_maps_to_letters_digits_underscores(name, expected):
    result = safe_identifier(name)
    assert result == expected
    assert IDENTIFIER.match(result)


def test_safe_identifier_avoids_taken_names():
    taken = {"image", "image_2"}
    assert safe_identifier("image", taken) == "image_3"
    assert safe_identifier("a b", {"a_b"}) == "a_b_2"


def test_safe_identifier_is_stable():
    assert safe_identifier("x y", {"z"}) == safe_identifier("x y", {"z"})


@pytest.mark.parametrize(
    "classes, expected_type, raw, value",
    [([1, 2, 3], "int", "2", 2), ([0.5, 1], "float", "0.5", 0.5), (["a", 1], "str", "1", "1")],
)
def test_new_scalar_takes_its_type_from_its_classes(classes, expected_type, raw, value):
    spec = normalize_label_schema({"s": {"type": "scalar", "classes": classes}})["s"]
    assert spec.scalar_type == expected_type
    parsed = spec.parse_scalar(raw)
    assert parsed == value and type(parsed) is type(value)
