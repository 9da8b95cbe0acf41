"""Attributes of the Picsellia emulator: a version's attribute configuration
(``POST | GET V/attributes``, as the SDK's ``DatasetVersion.set_attributes``
documents it) and the values of annotation and shape ``attributes``
checked against it."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .formats import Json, PicselliaError, bad_request, require_choice, require_dict

INPUT_TYPES = ("STRING", "INTEGER", "FLOAT", "BOOLEAN")
CONFIG_KEYS = ("display_name", "required", "input_type", "archived", "choices", "allow_multiple", "min", "max")


def check_config(config: Json) -> dict[str, dict[str, Any]] | None:
    """A version's attribute configuration ``{name: {...}}`` (or ``None`` to
    clear it), checked; each attribute is stored with every key. 400 on a
    rule the SDK's ``set_attributes`` documents."""
    if config is None:
        return None
    if not isinstance(config, dict):
        raise bad_request("attributes must be an object {name: configuration} or null")
    out = {}
    for name, spec in config.items():
        if not name.strip():
            raise bad_request("attribute names must be non-empty strings")
        out[name] = _check_attribute(name, spec)
    return out


def _check_attribute(name: str, spec: Json) -> dict[str, Any]:
    if not isinstance(spec, dict):
        raise bad_request("attribute %r: the configuration must be an object" % name)
    spec = require_dict(spec, allowed=CONFIG_KEYS, required=("input_type", "required"))
    input_type = require_choice(spec["input_type"], "attribute %r: input_type" % name, INPUT_TYPES)
    out: dict[str, Any] = {
        "display_name": spec.get("display_name"),
        "required": spec["required"],
        "input_type": input_type,
        "archived": spec.get("archived", False),
        "choices": spec.get("choices"),
        "allow_multiple": spec.get("allow_multiple"),
        "min": spec.get("min"),
        "max": spec.get("max"),
    }
    display = out["display_name"]
    if display is not None and (not isinstance(display, str) or not 1 <= len(display) <= 256):
        raise bad_request("attribute %r: display_name must be 1 to 256 characters" % name)
    for flag in ("required", "archived"):
        if not isinstance(out[flag], bool):
            raise bad_request("attribute %r: %s must be a boolean" % (name, flag))
    if out["allow_multiple"] is not None and not isinstance(out["allow_multiple"], bool):
        raise bad_request("attribute %r: allow_multiple must be a boolean or null" % name)
    if out["archived"] and out["required"]:
        raise bad_request("attribute %r: an archived attribute cannot be required" % name)
    choices = out["choices"]
    bounded = out["min"] is not None or out["max"] is not None
    if choices is not None:
        if input_type == "BOOLEAN":
            raise bad_request("attribute %r: a BOOLEAN attribute has no choices" % name)
        if bounded:
            raise bad_request("attribute %r: choices cannot be combined with min/max" % name)
        least = 2 if input_type == "STRING" else 1
        if not isinstance(choices, list) or not least <= len(choices) <= 64:
            raise bad_request("attribute %r: choices must be a list of %d to 64 values" % (name, least))
        for choice in choices:
            _check_type(name, input_type, choice)
        if len(set(choices)) != len(choices):
            raise bad_request("attribute %r: choices must be distinct" % name)
    elif out["allow_multiple"]:
        raise bad_request("attribute %r: allow_multiple needs choices" % name)
    if bounded:
        if input_type not in ("INTEGER", "FLOAT"):
            raise bad_request("attribute %r: min/max are for INTEGER and FLOAT attributes only" % name)
        for bound in ("min", "max"):
            if out[bound] is not None:
                _check_type(name, "FLOAT", out[bound], what=bound)
        if out["min"] is not None and out["max"] is not None and not out["min"] < out["max"]:
            raise bad_request("attribute %r: min must be less than max" % name)
    return out


def _check_type(name: str, input_type: str, value: object, what: str = "value") -> None:
    """400 unless ``value`` is of the attribute's type (an int is a FLOAT, a bool is not a number)."""
    if input_type == "STRING":
        ok = isinstance(value, str)
    elif input_type == "BOOLEAN":
        ok = isinstance(value, bool)
    elif input_type == "INTEGER":
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok:
        raise bad_request("attribute %r: %s %r is not of type %s" % (name, what, value, input_type))


def check_values(config: Mapping[str, Mapping[str, Any]] | None, values: Json, where: str) -> dict[str, Any]:
    """The ``attributes`` of an annotation or a shape (``None`` is ``{}``),
    checked against the version's configuration when it has one: unknown
    names, values of another type, outside the choices or min/max, and lists
    without ``allow_multiple`` are refused (400). A ``null`` value is an
    unset attribute. ``required`` is not enforced: imports and saves carry
    partial work, which a person completes later in the web app."""
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise bad_request("%s: attributes must be an object" % where)
    if config is None:
        return values
    for name, value in values.items():
        spec = config.get(name)
        if spec is None:
            raise bad_request("%s: unknown attribute %r (configured: %s)" % (where, name, ", ".join(config) or "none"))
        if value is None:
            continue
        if isinstance(value, list):
            if not spec["allow_multiple"]:
                raise bad_request("%s: attribute %r takes one value, not a list" % (where, name))
            if len(set(map(repr, value))) != len(value):
                raise bad_request("%s: attribute %r: repeated values" % (where, name))
            items = value
        elif spec["allow_multiple"]:
            raise bad_request("%s: attribute %r allows multiple values: give a list" % (where, name))
        else:
            items = [value]
        for item in items:
            _check_value(where, name, spec, item)
    return values


def _check_value(where: str, name: str, spec: Mapping[str, Any], value: object) -> None:
    try:
        _check_type(name, spec["input_type"], value)
    except PicselliaError as e:
        raise bad_request("%s: %s" % (where, e.message)) from None
    if spec["choices"] is not None and value not in spec["choices"]:
        raise bad_request("%s: attribute %r: %r is not one of %s" % (where, name, value, spec["choices"]))
    low, high = spec["min"], spec["max"]
    if (low is not None and value < low) or (high is not None and value > high):
        raise bad_request("%s: attribute %r: %r is outside [%s, %s]" % (where, name, value, low, high))
