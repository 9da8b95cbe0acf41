"""Wire formats of the Picsellia emulator: errors, checks of request bodies,
pagination, list filters, image decoding and annotation shapes."""

from __future__ import annotations

import io
import uuid
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from PIL import Image

from .masks import mask_area_bbox, mask_runs

Json = Any

#: the version types and the shape kinds each accepts
VERSION_TYPES: dict[str, tuple[str, ...]] = {
    "NOT_CONFIGURED": (),
    "CLASSIFICATION": ("classifications",),
    "OBJECT_DETECTION": ("rectangles",),
    "SEGMENTATION": ("polygons",),
    "POINT": ("points",),
    "KEYPOINT": ("keypoints",),
    "LINE": ("lines",),
    "MASK": ("masks",),
    # every kind, masks included (the SDK's shape writes name no version type)
    "MULTI": ("rectangles", "polygons", "lines", "points", "classifications", "keypoints", "masks"),
}

#: every shape kind
SHAPE_KINDS = ("rectangles", "polygons", "lines", "points", "classifications", "keypoints", "masks")

#: the body key of one shape's geometry, per kind (classifications have none)
GEOMETRY_KEYS = {"polygons": "polygon", "lines": "line", "points": "point", "keypoints": "keypoints", "masks": "mask"}

ANNOTATION_STATUSES = ("PENDING", "SKIPPED", "ACCEPTED", "REFUSED")
UPLOAD_STATUSES = ("PENDING", "COMPUTING", "DONE", "ERROR")
DATA_TYPES = ("IMAGE", "VIDEO")
IMPORT_TYPES = ("REPLACE", "KEEP", "CONCATENATE")

#: the largest page of any list
PAGE_CAP = 1000

#: the keys an ``XGET`` list body may select by (exactly one of them)
SELECT_KEYS = ("ids", "filenames", "object_names", "filename_startswith", "data_ids")

IMAGE_CONTENT_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "BMP": "image/bmp"}


class PicselliaError(Exception):
    """An error answer: ``status`` and ``{"message", "detail"}``."""

    def __init__(self, status: int, message: str, detail: str | list[Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.detail = detail if detail is not None else message


def bad_request(message: str) -> PicselliaError:
    """A 400 error."""
    return PicselliaError(400, message)


def not_found(kind: str, ident: object) -> PicselliaError:
    """A 404 error for an unknown id or name."""
    return PicselliaError(404, "%s %s not found" % (kind, ident))


def new_id() -> str:
    """A new UUID string."""
    return str(uuid.uuid4())


def require_dict(body: Json, allowed: Sequence[str] = (), required: Sequence[str] = ()) -> dict[str, Any]:
    """The body as a dict; 400 on another type, an unknown or a missing field."""
    if not isinstance(body, dict):
        raise bad_request("the body must be a JSON object")
    if allowed:
        unknown = sorted(set(body) - set(allowed) - set(required))
        if unknown:
            raise bad_request("unknown field(s): %s" % ", ".join(unknown))
    missing = [k for k in required if k not in body]
    if missing:
        raise bad_request("missing field(s): %s" % ", ".join(missing))
    return body


def require_str(body: Mapping[str, Any], key: str, allow_empty: bool = False) -> str:
    """``body[key]`` as a (non-empty) string; 400 otherwise."""
    value = body.get(key)
    if not isinstance(value, str) or (not allow_empty and not value.strip()):
        raise bad_request("%s must be a non-empty string" % key)
    return value


def require_choice(value: object, key: str, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices``; 400 otherwise."""
    if not isinstance(value, str) or value not in choices:
        raise bad_request("%s must be one of %s, not %r" % (key, ", ".join(choices), value))
    return value


def require_ids(value: object, key: str, cap: int | None = None) -> list[str]:
    """A list of string ids, at most ``cap`` of them; 400 otherwise."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise bad_request("%s must be a list of ids" % key)
    if cap is not None and len(value) > cap:
        raise bad_request("%s: at most %d ids, not %d" % (key, cap, len(value)))
    return value


def query_value(query: Mapping[str, list[str]], key: str) -> str | None:
    """The last value of a query parameter, or ``None``."""
    values = query.get(key)
    return values[-1] if values else None


def _int_param(query: Mapping[str, list[str]], key: str, default: int, low: int, high: int) -> int:
    raw = query_value(query, key)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request("%s must be an integer, not %r" % (key, raw)) from None
    if not low <= value <= high:
        raise bad_request("%s must be between %d and %d, not %d" % (key, low, high, value))
    return value


def paginate(items: Sequence[dict[str, Any]], query: Mapping[str, list[str]]) -> dict[str, Any]:
    """A page ``{"items", "count", "next_cursor"}`` of ``items``.

    ``limit`` (1-1000, default 1000) with ``offset``, or with ``cursor`` (the
    ``next_cursor`` of the previous page). ``next_cursor`` is null on the
    last page and absent when ``order_by`` is given (limit/offset paging).
    """
    limit = _int_param(query, "limit", PAGE_CAP, 1, PAGE_CAP)
    cursor = query_value(query, "cursor")
    if cursor:
        if not cursor.startswith("c") or not cursor[1:].isdigit():
            raise bad_request("invalid cursor %r" % cursor)
        start = int(cursor[1:])
    else:
        start = _int_param(query, "offset", 0, 0, 2**31)
    end = start + limit
    page: dict[str, Any] = {"items": list(items[start:end]), "count": len(items)}
    if query_value(query, "order_by") is None:
        page["next_cursor"] = "c%d" % end if end < len(items) else None
    return page


def list_filters(values: Mapping[str, Any]) -> tuple[set[str], set[str]]:
    """The ``upload_statuses`` and ``types`` filters (all when absent)."""
    statuses = _filter(values.get("upload_statuses"), "upload_statuses", UPLOAD_STATUSES)
    types = _filter(values.get("types"), "types", DATA_TYPES)
    return statuses, types


def _filter(raw: object, key: str, choices: Sequence[str]) -> set[str]:
    if raw is None:
        return set(choices)
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        raise bad_request("%s must be a list" % key)
    out: set[str] = set()
    for value in raw:
        # the query string may also carry a comma-separated list
        for part in str(value).split(","):
            out.add(require_choice(part, key, choices))
    return out


def decode_image(raw: bytes) -> tuple[int, int, str]:
    """``(width, height, content_type)`` of an image's bytes; 400 if Pillow
    cannot decode it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(raw)) as image:
                image_format = image.format or ""
                width, height = image.size
                image.load()
    except Exception as e:  # Pillow raises many kinds
        raise bad_request("the object is not a decodable image (%s)" % type(e).__name__) from None
    content_type = IMAGE_CONTENT_TYPES.get(image_format)
    if content_type is None:
        raise bad_request("unsupported image format %s" % image_format)
    return width, height, content_type


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise bad_request("%s must be a number, not %r" % (what, value))
    return float(value)


def _point(value: object, what: str, width: int, height: int, size: int = 2) -> list[float]:
    if not isinstance(value, list) or len(value) != size:
        raise bad_request("%s must be a list of %d numbers" % (what, size))
    coords = [_number(v, what) for v in value]
    x, y = coords[0], coords[1]
    if not (0 <= x <= width and 0 <= y <= height):
        raise bad_request("%s (%g, %g) is outside the %dx%d image" % (what, x, y, width, height))
    return [int(v) if float(v).is_integer() else v for v in coords]


def check_shape(kind: str, shape: Json, labels: Mapping[str, str], width: int, height: int) -> dict[str, Any]:
    """A written shape checked against the image and the version's labels;
    returns the stored form ``{"label_id", <geometry>, "text"?, "attributes"?}``."""
    geometry_keys = {"rectangles": ("x", "y", "w", "h")}.get(kind) or (
        (GEOMETRY_KEYS[kind],) if kind in GEOMETRY_KEYS else ()
    )
    body = require_dict(shape, allowed=("text", "attributes"), required=("label_id",) + tuple(geometry_keys))
    label_id = body["label_id"]
    if not isinstance(label_id, str) or label_id not in labels:
        raise PicselliaError(404, "label %r is not a label of this version" % (label_id,))
    out: dict[str, Any] = {"label_id": label_id}
    if kind == "rectangles":
        values = {}
        for key in geometry_keys:
            value = body[key]
            if isinstance(value, bool) or not isinstance(value, int):
                raise bad_request("rectangle %s must be an integer, not %r" % (key, value))
            values[key] = value
        x, y, w, h = values["x"], values["y"], values["w"], values["h"]
        if w <= 0 or h <= 0:
            raise bad_request("rectangle w and h must be > 0, not %d x %d" % (w, h))
        if x < 0 or y < 0 or x + w > width or y + h > height:
            raise bad_request("rectangle (%d, %d, %d, %d) is outside the %dx%d image" % (x, y, w, h, width, height))
        out.update(values)
    elif kind in ("polygons", "lines"):
        key = GEOMETRY_KEYS[kind]
        points = body[key]
        least = 3 if kind == "polygons" else 2
        if not isinstance(points, list) or len(points) < least:
            raise bad_request("%s must be a list of at least %d [x, y] points" % (key, least))
        out[key] = [_point(p, key + " point", width, height) for p in points]
    elif kind == "points":
        out["point"] = _point(body["point"], "point", width, height)
    elif kind == "keypoints":
        points = body["keypoints"]
        if not isinstance(points, list) or not points:
            raise bad_request("keypoints must be a non-empty list of [x, y, visibility]")
        out["keypoints"] = [_point(p, "keypoint", width, height, size=3) for p in points]
    elif kind == "masks":
        try:
            runs = mask_runs(body["mask"], width, height)
        except ValueError as e:
            raise bad_request(str(e)) from None
        out["mask"] = body["mask"]
        out["area"], out["bbox"] = mask_area_bbox(runs, height)
    text, attributes = body.get("text"), body.get("attributes")
    if text is not None and not isinstance(text, str):
        raise bad_request("text must be a string")
    if attributes is not None and not isinstance(attributes, dict):
        raise bad_request("attributes must be an object")
    # a loaded shape always has both keys (the SDK's COCO builder reads them)
    out["text"], out["attributes"] = text, attributes if attributes is not None else {}
    return out


def check_shapes(
    kind: str, shapes: Json, version_type: str, labels: Mapping[str, str], width: int, height: int
) -> list[dict[str, Any]]:
    """A list of written shapes of one kind, checked (see :func:`check_shape`)."""
    if kind not in SHAPE_KINDS:
        raise bad_request("unknown shape kind %r" % kind)
    if not isinstance(shapes, list):
        raise bad_request("%s must be a list" % kind)
    if shapes and kind not in VERSION_TYPES[version_type]:
        raise bad_request("a %s version does not accept %s" % (version_type, kind))
    return [check_shape(kind, s, labels, width, height) for s in shapes]
