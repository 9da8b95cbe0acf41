"""Helpers of the Kili conversion tests: interfaces from schemas, JSON
round trips as on the wire, annotations as Kili's editor writes them."""

import json
import math

import numpy as np
import pytest

from fo_annotation_backends.core.idmap import iter_labels
from fo_annotation_backends.core.schema import normalize_label_schema
from fo_annotation_backends.kili.convert import KiliInterface, json_response_to_labels, labels_to_json_response


class FieldTypes:
    """Just enough of a sample collection for ``get_field``."""

    def __init__(self, **fields):
        self._fields = fields

    def get_field(self, name):
        return self._fields.get(name)


def interface_of(schema, samples=None, skeletons=None):
    """The fields and interface of ``schema``; a field that ``samples`` has
    is an existing field, as FiftyOne's resolved schema says."""
    schema = {
        name: dict(info, existing_field=samples is not None and samples.get_field(name) is not None)
        for name, info in schema.items()
    }
    fields = normalize_label_schema(schema, samples=samples)
    return fields, KiliInterface(fields, skeletons=skeletons)


def wire(payload):
    """``payload`` as the other side of the wire sees it."""
    return json.loads(json.dumps(payload))


def roundtrip(interface, field, value, image_size=None, current=None):
    """Uploads ``value`` as a jsonResponse and converts it straight back."""
    response = wire(labels_to_json_response(interface, {field: value}, image_size=image_size))
    if current is None:
        current = {label.id: label for label in iter_labels(value)}
    labels = json_response_to_labels(interface, interface.fields[field], response, current, image_size=image_size)
    return response, labels


def annotations(response, interface, field):
    return response[interface.job_name(field)]["annotations"]


def assert_points_equal(actual, expected):
    assert len(actual) == len(expected)
    for (ax, ay), (ex, ey) in zip(actual, expected):
        if math.isnan(ex):
            assert math.isnan(ax) and math.isnan(ay)
        else:
            assert (ax, ay) == (pytest.approx(ex), pytest.approx(ey))


def vertices(*points):
    return [{"x": x, "y": y} for x, y in points]


def bounding_poly(*points):
    return [{"normalizedVertices": vertices(*points)}]


def kili_annotation(mid, key, type_, **shape):
    """An annotation as Kili's editor would send it."""
    return dict({"mid": mid, "type": type_, "categories": [{"name": key}], "children": {}}, **shape)


def grid(text):
    """A boolean mask from rows of ``#`` (foreground) and ``.``."""
    return np.array([[c == "#" for c in row] for row in text.split()], dtype=bool)
