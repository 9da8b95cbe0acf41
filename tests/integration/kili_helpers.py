"""Helpers of the Kili integration tests: reading the run's jsonInterface
names and writing jsonResponse pieces the way Kili's editor does."""

from dataset_helpers import add_images, dets, make_image

__all__ = [
    "add_images",
    "asset_count",
    "attr_job",
    "attr_key",
    "box_annotation",
    "category",
    "dets",
    "job",
    "key",
    "make_image",
    "rectangle",
]


def job(results, field):
    """The job name of a field."""
    return results.interface_mapping["jobs"][field]


def key(results, field, name):
    """The category key of a class."""
    return results.interface_mapping["categories"][field][name]


def attr_job(results, field, attribute):
    """The child job name of an attribute."""
    return results.interface_mapping["attribute_jobs"][field][attribute]


def attr_key(results, field, attribute, value):
    """The category key of an attribute value (``True`` for checkboxes)."""
    return results.interface_mapping["attribute_values"][field][attribute][str(value)]


def category(category_key):
    return {"name": category_key, "confidence": 100}


def rectangle(x0, y0, x1, y1):
    """A rectangle's ``boundingPoly`` in Kili's vertex order."""
    vertices = [{"x": x0, "y": y1}, {"x": x0, "y": y0}, {"x": x1, "y": y0}, {"x": x1, "y": y1}]
    return [{"normalizedVertices": vertices}]


def box_annotation(mid, category_key, x0, y0, x1, y1, children=None):
    """A rectangle annotation as Kili's editor writes it."""
    return {
        "mid": mid,
        "type": "rectangle",
        "categories": [category(category_key)],
        "boundingPoly": rectangle(x0, y0, x1, y1),
        "children": children or {},
    }


def asset_count(annotator, project_id):
    """How many assets the project has."""
    return annotator.graphql(
        "query($where: AssetWhere!) { data: countAssets(where: $where) }", {"where": {"project": {"id": project_id}}}
    )["data"]
