"""FastLabel's wire formats, as the emulator checks them: project, class and
attribute types, statuses, uploaded images, annotation geometry and
attribute values.

Every check raises :class:`FastLabelError` (an HTTP status and a message);
nothing here touches the emulator's state.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import re
import uuid
import warnings
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any, TypeVar, cast

from PIL import Image

_T = TypeVar("_T")

#: a decoded JSON value of a request, not checked yet (the checks here look at it)
Json = Any
#: a query string as ``parse_qs`` decodes it: ``{name: [values]}``
Query = Mapping[str, list[str]]
#: a record of the emulator's state (user, project, class, task): a JSON-like dict
Record = dict[str, Any]

#: project types whose tasks go through ``tasks/image``
IMAGE_PROJECT_TYPES = (
    "image_bbox",
    "image_polygon",
    "image_keypoint",
    "image_line",
    "image_segmentation",
    "image_pose_estimation",
    "image_all",
)
#: project types whose tasks go through ``tasks/image/classification``
IMAGE_CLASSIFICATION_PROJECT_TYPES = ("image_classification",)

ANNOTATION_TYPES = (
    "bbox",
    "polygon",
    "keypoint",
    "line",
    "circle",
    "segmentation",
    "classification",
    "pose_estimation",
)

#: the class types each project type accepts (projects of the other types
#: can be created and get classes, but have no task endpoints here)
PROJECT_CLASS_TYPES = {
    "image_bbox": ("bbox",),
    "image_polygon": ("polygon",),
    "image_keypoint": ("keypoint",),
    "image_line": ("line",),
    "image_segmentation": ("segmentation",),
    "image_pose_estimation": ("pose_estimation",),
    "image_classification": ("classification",),
    "image_all": ANNOTATION_TYPES,
    "video_bbox": ("bbox",),
    "video_single_classification": ("classification",),
    "sequential_image_bbox": ("bbox",),
    "sequential_image_polygon": ("polygon",),
    "sequential_image_keypoint": ("keypoint",),
    "sequential_image_line": ("line",),
    "sequential_image_segmentation": ("segmentation",),
}
PROJECT_TYPES = tuple(PROJECT_CLASS_TYPES)

WORKFLOWS = ("two_step", "three_step")
ATTRIBUTE_TYPES = ("text", "select", "radio", "checkbox", "switch")
OPTION_ATTRIBUTE_TYPES = ("select", "radio", "checkbox")

TASK_STATUSES = ("registered", "pending", "completed", "skipped", "reviewed", "sent_back", "approved", "declined")
EXTERNAL_TASK_STATUSES = TASK_STATUSES + ("customer_declined",)
PRIORITIES = (0, 10, 20, 30)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
#: Pillow's names of the formats accepted (MPO: a multi-picture JPEG)
IMAGE_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "MPO": "image/jpeg"}

#: the value and title of the class ``POST annotations/classification`` makes
CLASSIFICATION_VALUE = "classification"

MAX_LIMIT = 1000
MAX_FILTER_TAGS = 10
MAX_TAG_IDS = 5000
MAX_TAGS_PER_UPDATE = 20
MAX_TAG_LENGTH = 140
MAX_AREA_COUNT = 1000
DEFAULT_MAX_AREA_COUNT = 1

PALETTE = (
    "#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#ff7f00", "#ffff33", "#a65628", "#f781bf",
    "#999999", "#66c2a5", "#fc8d62", "#8da0cb", "#e78ac3", "#a6d854", "#ffd92f", "#e5c494",
)  # fmt: skip

_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")


class FastLabelError(Exception):
    """An error answered as ``{"message": ...}`` with an HTTP status."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


# -- generic checks ------------------------------------------------------------------


def is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def require_dict(body: Json, what: str = "the body") -> dict[str, Any]:
    if not isinstance(body, dict):
        raise FastLabelError("%s must be a JSON object" % what)
    return body


def check_keys(body: Iterable[str], allowed: Iterable[str], what: str) -> None:
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise FastLabelError(
            "%s: unknown field(s) %s (accepted: %s)" % (what, ", ".join(unknown), ", ".join(sorted(allowed)))
        )


def required_string(body: Mapping[str, Any], key: str, what: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip():
        raise FastLabelError("%s: %s is required (a non-empty string)" % (what, key))
    return value


def optional_string(body: Mapping[str, Any], key: str, what: str, default: str | None = None) -> str | None:
    value = body.get(key, default)
    if value is not None and not isinstance(value, str):
        raise FastLabelError("%s: %s must be a string" % (what, key))
    return value


def check_slug(slug: object) -> str:
    if not isinstance(slug, str) or not _SLUG.match(slug):
        raise FastLabelError(
            "slug %r is invalid: 1-100 characters, lowercase letters, digits, '-' or '_', starting with a letter or digit"
            % (slug,)
        )
    return slug


def check_color(color: object) -> str:
    if not isinstance(color, str) or not _COLOR.match(color):
        raise FastLabelError("color %r is invalid: a hex color code like #ff0000" % (color,))
    return color.lower()


def check_choice(value: object, choices: Collection[_T], what: str) -> _T:
    if value not in choices:
        raise FastLabelError("%s %r is invalid (one of: %s)" % (what, value, ", ".join(str(c) for c in choices)))
    return cast(_T, value)  # one of the choices


def check_priority(value: Json) -> int:
    if isinstance(value, bool) or value not in PRIORITIES:
        raise FastLabelError("priority %r is invalid (0 none, 10 low, 20 medium, 30 high)" % (value,))
    return int(value)


def check_tags(tags: object, what: str = "tags", limit: int | None = None) -> list[str]:
    """A list of tag names, duplicates dropped (first kept)."""
    if not isinstance(tags, list):
        raise FastLabelError("%s must be a list of strings" % what)
    out: list[str] = []
    for tag in tags:
        if not isinstance(tag, str) or not tag.strip():
            raise FastLabelError("%s: every tag must be a non-empty string, not %r" % (what, tag))
        if len(tag) > MAX_TAG_LENGTH:
            raise FastLabelError("%s: tag %r is longer than %d characters" % (what, tag[:20], MAX_TAG_LENGTH))
        if tag not in out:
            out.append(tag)
    if limit is not None and len(out) > limit:
        raise FastLabelError("%s: at most %d tags, %d given" % (what, limit, len(out)))
    return out


def check_metadatas(metadatas: object) -> list[dict[str, Any]]:
    if not isinstance(metadatas, list):
        raise FastLabelError("metadatas must be a list of {key, value}")
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for item in metadatas:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str) or not item["key"]:
            raise FastLabelError("metadatas: every item needs a string key, not %r" % (item,))
        check_keys(item, ("key", "value"), "metadatas item")
        if item["key"] in seen:
            raise FastLabelError("metadatas: key %r appears twice" % item["key"])
        seen.add(item["key"])
        value = item.get("value")
        if value is not None and not isinstance(value, (str, int, float, bool, list)):
            raise FastLabelError(
                "metadatas: the value of %r must be a string, a number, a boolean or a list" % item["key"]
            )
        out.append({"key": item["key"], "value": value})
    return out


def int_param(query: Query, name: str, default: int, low: int, high: int | None = None) -> int:
    """An integer query parameter within ``[low, high]``."""
    values = query.get(name)
    if not values or values[-1] == "":
        return default
    try:
        value = int(values[-1])
    except ValueError:
        raise FastLabelError("%s must be an integer, not %r" % (name, values[-1])) from None
    if value < low or (high is not None and value > high):
        if high is None:
            raise FastLabelError("%s must be >= %d" % (name, low))
        raise FastLabelError("%s must be between %d and %d, not %d" % (name, low, high, value))
    return value


def str_param(query: Query, name: str) -> str | None:
    values = query.get(name)
    if not values or values[-1] == "":
        return None
    return values[-1]


# -- ids, pages and answers ------------------------------------------------------------


def new_id() -> str:
    """A UUID4 string, as FastLabel's ids."""
    return str(uuid.uuid4())


def paginate(items: list[_T], query: Query, default_limit: int, max_limit: int = MAX_LIMIT) -> list[_T]:
    """The page of ``items`` the ``offset`` and ``limit`` parameters ask for."""
    offset = int_param(query, "offset", 0, 0)
    limit = int_param(query, "limit", default_limit, 1, max_limit)
    return items[offset : offset + limit]


def public_fields(record: Mapping[str, Any], **overrides: Any) -> dict[str, Any]:
    """A copy of a record without its internal (``_``) keys, with ``overrides``."""
    out = {k: v for k, v in record.items() if not k.startswith("_")}
    out.update(overrides)
    return out


# -- images --------------------------------------------------------------------------


def decode_base64_file(
    name: object, data: object, max_bytes: int, media: str, extensions: tuple[str, ...], limit: str
) -> bytes:
    """Checks a task's ``name`` (ending in one of ``extensions``) and base64
    ``file`` (at most ``max_bytes``); returns the decoded bytes. ``media``
    ("image", "video") and ``limit`` ("20 MB") word the errors as FastLabel
    does."""
    if not isinstance(name, str) or not name.strip():
        raise FastLabelError("name is required (a non-empty string, the %s's file name)" % media)
    if not name.lower().endswith(extensions):
        raise FastLabelError(
            "name %r: supported extensions are %s" % (name, ", ".join(e.lstrip(".") for e in extensions))
        )
    if not isinstance(data, str) or not data:
        raise FastLabelError("file is required: the %s as a standard base64 string" % media)
    if data.startswith("data:"):
        raise FastLabelError("file must be plain base64, without a data: URL prefix")
    # the base64 text tells the size: refuse before decoding a huge body
    if len(data) // 4 * 3 - 2 > max_bytes:
        raise FastLabelError(
            "the %s is larger than %d bytes (supported %s size is under %s)" % (media, max_bytes, media, limit)
        )
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise FastLabelError("file is not valid standard base64") from None
    if len(raw) > max_bytes:
        raise FastLabelError(
            "the %s is %d bytes, more than %d (supported %s size is under %s)"
            % (media, len(raw), max_bytes, media, limit)
        )
    return raw


def decode_image(name: object, data: object, max_bytes: int) -> tuple[bytes, int, int, str]:
    """Checks a task's name and base64 ``file``; returns ``(bytes, width,
    height, content_type)``."""
    raw = decode_base64_file(name, data, max_bytes, "image", IMAGE_EXTENSIONS, "20 MB")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(raw)) as image:
                image_format = image.format
                width, height = image.size
                image.load()
    except Image.DecompressionBombError as e:
        raise FastLabelError("the image is too large to decode: %s" % e) from None
    except Exception as e:  # Pillow raises many kinds
        raise FastLabelError("file could not be decoded as a PNG or JPEG image (%s)" % type(e).__name__) from None
    content_type = IMAGE_FORMATS.get(image_format or "")
    if content_type is None:
        raise FastLabelError("file is a %s image: supported formats are PNG and JPEG" % image_format)
    if width < 1 or height < 1:
        raise FastLabelError("the image is empty")
    return raw, width, height, content_type


# -- class definitions ---------------------------------------------------------------


def check_attribute_definitions(
    attributes: object, new_id: Callable[[], str], previous: Iterable[Mapping[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """The attribute definitions of a class; an item with the ``id`` of one
    in ``previous`` keeps that id."""
    if not isinstance(attributes, list):
        raise FastLabelError("attributes must be a list")
    previous_ids = {a["id"] for a in previous or []}
    out: list[dict[str, Any]] = []
    keys: set[str] = set()
    for order, item in enumerate(attributes, 1):
        what = "attribute %d" % order
        require_dict(item, what)
        check_keys(item, ("id", "type", "name", "key", "options", "order", "value"), what)
        attribute_type = check_choice(item.get("type"), ATTRIBUTE_TYPES, what + ": type")
        name = required_string(item, "name", what)
        key = required_string(item, "key", what)
        if key in keys:
            raise FastLabelError("attribute key %r appears twice" % key)
        keys.add(key)
        options = item.get("options") or []
        if attribute_type in OPTION_ATTRIBUTE_TYPES:
            if not isinstance(options, list) or not options:
                raise FastLabelError(
                    "attribute %r: a %s attribute needs options [{title, value}]" % (key, attribute_type)
                )
            values: set[str] = set()
            checked: list[dict[str, str]] = []
            for option in options:
                if not isinstance(option, dict):
                    raise FastLabelError("attribute %r: every option is {title, value}" % key)
                check_keys(option, ("title", "value", "id"), "attribute %r option" % key)
                title = required_string(option, "title", "attribute %r option" % key)
                value = required_string(option, "value", "attribute %r option" % key)
                if value in values:
                    raise FastLabelError("attribute %r: option value %r appears twice" % (key, value))
                values.add(value)
                checked.append({"title": title, "value": value})
            options = checked
        elif options:
            raise FastLabelError("attribute %r: only select, radio and checkbox attributes have options" % key)
        attribute_id = item.get("id") if item.get("id") in previous_ids else new_id()
        out.append(
            {"id": attribute_id, "key": key, "name": name, "type": attribute_type, "options": options, "order": order}
        )
    return out


def check_keypoint_definitions(keypoints: object, new_id: Callable[[], str]) -> list[dict[str, Any]]:
    """The keypoints of a pose_estimation class: ``[{key, name, color?,
    edges: [keys]}]``."""
    if not isinstance(keypoints, list) or not keypoints:
        raise FastLabelError("a pose_estimation class needs keypoints [{key, name, edges}]")
    out: list[dict[str, Any]] = []
    keys: list[str] = []
    for item in keypoints:
        require_dict(item, "keypoint")
        check_keys(item, ("id", "key", "name", "color", "edges", "value"), "keypoint")
        key = required_string(item, "key", "keypoint")
        if key in keys:
            raise FastLabelError("keypoint key %r appears twice" % key)
        keys.append(key)
        color = check_color(item["color"]) if item.get("color") else "#0033cc"
        edges = item.get("edges") or []
        if not isinstance(edges, list) or not all(isinstance(e, str) for e in edges):
            raise FastLabelError("keypoint %r: edges must be a list of keypoint keys" % key)
        out.append(
            {
                "id": new_id(),
                "key": key,
                "name": optional_string(item, "name", "keypoint") or key,
                "color": color,
                "edges": list(edges),
            }
        )
    for item in out:
        for edge in item["edges"]:
            if edge not in keys or edge == item["key"]:
                raise FastLabelError("keypoint %r: edge %r is not another keypoint's key" % (item["key"], edge))
    return out


def check_max_area_count(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_AREA_COUNT:
        raise FastLabelError(
            "maxAreaCount must be null or an integer between 1 and %d, not %r" % (MAX_AREA_COUNT, value)
        )
    return value


# -- attribute values ------------------------------------------------------------------


def check_attribute_values(
    values: object, definitions: Iterable[Mapping[str, Any]], what: str
) -> list[tuple[str, Json]]:
    """``[{key, value}]`` against a class's attribute definitions; returns
    ``[(key, value)]``."""
    if values is None:
        return []
    if not isinstance(values, list):
        raise FastLabelError("%s: attributes must be a list of {key, value}" % what)
    by_key = {d["key"]: d for d in definitions}
    out: list[tuple[str, Json]] = []
    seen: set[str] = set()
    for item in values:
        if not isinstance(item, dict):
            raise FastLabelError("%s: every attribute is {key, value}, not %r" % (what, item))
        check_keys(item, ("key", "value", "name", "type", "title", "id"), "%s attribute" % what)
        key: Json = item.get("key")  # checked below: one of the definitions' keys
        if key not in by_key:
            raise FastLabelError(
                "%s: attribute key %r is not defined on the class (defined: %s)"
                % (what, key, ", ".join(sorted(by_key)) or "none")
            )
        if key in seen:
            raise FastLabelError("%s: attribute %r appears twice" % (what, key))
        seen.add(key)
        out.append((key, _attribute_value(item.get("value"), by_key[key], what)))
    return out


def _attribute_value(value: Json, definition: Mapping[str, Any], what: str) -> Json:
    kind, key = definition["type"], definition["key"]
    options = [o["value"] for o in definition["options"]]
    if kind == "text":
        if not isinstance(value, str) and not is_number(value):
            raise FastLabelError("%s: text attribute %r needs a string value, not %r" % (what, key, value))
    elif kind in ("select", "radio"):
        if value not in options:
            raise FastLabelError(
                "%s: %s attribute %r needs one of its option values (%s), not %r"
                % (what, kind, key, ", ".join(options), value)
            )
    elif kind == "checkbox":
        if not isinstance(value, list) or any(v not in options for v in value) or len(set(value)) != len(value):
            raise FastLabelError(
                "%s: checkbox attribute %r needs a list of distinct option values (%s), not %r"
                % (what, key, ", ".join(options), value)
            )
    elif kind == "switch":
        if not isinstance(value, bool):
            raise FastLabelError("%s: switch attribute %r needs true or false, not %r" % (what, key, value))
    return value


# -- geometry ----------------------------------------------------------------------------


def _flat(points: object, what: str) -> list[float]:
    if not isinstance(points, list) or not all(is_number(v) for v in points):
        raise FastLabelError("%s: points must be a flat list of finite numbers" % what)
    return [v for v in points]


def check_points(annotation_type: str, points: object, max_area_count: int | None, what: str) -> list[Any]:
    """The ``points`` of an annotation of a type (``None`` when absent)."""
    if annotation_type in ("classification", "pose_estimation"):
        if points not in (None, []):
            raise FastLabelError("%s: a %s annotation has no points" % (what, annotation_type))
        return []
    if points is None:
        raise FastLabelError("%s: points are required for a %s annotation" % (what, annotation_type))
    if annotation_type == "bbox":
        points = _flat(points, what)
        if len(points) != 4:
            raise FastLabelError(
                "%s: bbox points are [x1, y1, x2, y2] (4 numbers), not %d numbers" % (what, len(points))
            )
        x1, y1, x2, y2 = points
        if x2 < x1 or y2 < y1:
            raise FastLabelError(
                "%s: bbox points are the top-left then the bottom-right corner (x1 <= x2, y1 <= y2): %r"
                % (what, points)
            )
        return points
    if annotation_type == "polygon":
        points = _flat(points, what)
        if len(points) < 6 or len(points) % 2:
            raise FastLabelError("%s: polygon points are a flat [x1, y1, x2, y2, ...] of 3 points or more" % what)
        return points
    if annotation_type == "line":
        points = _flat(points, what)
        if len(points) < 4 or len(points) % 2:
            raise FastLabelError("%s: line points are a flat [x1, y1, x2, y2, ...] of 2 points or more" % what)
        return points
    if annotation_type == "keypoint":
        points = _flat(points, what)
        if len(points) != 2:
            raise FastLabelError("%s: keypoint points are [x, y]" % what)
        return points
    if annotation_type == "circle":
        points = _flat(points, what)
        if len(points) != 3 or points[2] <= 0:
            raise FastLabelError("%s: circle points are [x, y, r] with r > 0" % what)
        return points
    if annotation_type == "segmentation":
        return _segmentation(points, max_area_count, what)
    raise FastLabelError("%s: unknown annotation type %r" % (what, annotation_type))


def _segmentation(points: object, max_area_count: int | None, what: str) -> list[Any]:
    shape = "segmentation points are a list of regions, each a list of closed flat rings [[[x1, y1, ..., x1, y1], ...], ...]"
    if not isinstance(points, list) or not points:
        raise FastLabelError("%s: %s" % (what, shape))
    if max_area_count is not None and len(points) > max_area_count:
        raise FastLabelError(
            "%s: %d regions, but the class allows at most %d (maxAreaCount)" % (what, len(points), max_area_count)
        )
    for region in points:
        if not isinstance(region, list) or not region:
            raise FastLabelError("%s: %s" % (what, shape))
        for ring in region:
            if not isinstance(ring, list) or not all(is_number(v) for v in ring):
                raise FastLabelError("%s: %s" % (what, shape))
            if len(ring) % 2 or len(ring) < 8:
                raise FastLabelError("%s: every ring has 3 points or more plus the first repeated at the end" % what)
            if ring[0] != ring[-2] or ring[1] != ring[-1]:
                raise FastLabelError("%s: every ring is closed (its last point repeats its first)" % what)
    return points


def check_pose_keypoints(
    keypoints: object, definitions: Iterable[Mapping[str, Any]], what: str
) -> dict[str, list[float]]:
    """The ``keypoints`` of a pose_estimation annotation; returns ``{key:
    value}`` (``[x, y, v]`` or ``[]``)."""
    if keypoints is None:
        keypoints = []
    if not isinstance(keypoints, list):
        raise FastLabelError("%s: keypoints must be a list of {key, value}" % what)
    keys = [d["key"] for d in definitions]
    out: dict[str, list[float]] = {}
    for item in keypoints:
        if not isinstance(item, dict):
            raise FastLabelError("%s: every keypoint is {key, value}" % what)
        check_keys(item, ("key", "value", "name", "edges", "id", "color"), "%s keypoint" % what)
        key: Json = item.get("key")  # checked below: one of the definitions' keys
        if key not in keys:
            raise FastLabelError("%s: keypoint %r is not defined on the class (%s)" % (what, key, ", ".join(keys)))
        if key in out:
            raise FastLabelError("%s: keypoint %r appears twice" % (what, key))
        value = item.get("value")
        if value is None:
            value = []
        if value != []:
            if not isinstance(value, list) or len(value) != 3 or not all(is_number(v) for v in value):
                raise FastLabelError("%s: keypoint %r value is [x, y, v] or []" % (what, key))
            if value[2] not in (0, 1):
                raise FastLabelError("%s: keypoint %r visibility is 0 (invisible) or 1 (visible)" % (what, key))
        out[key] = value
    return out
