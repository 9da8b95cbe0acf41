"""What the App plugin's operators and panel share: which backends and runs
are ours, credentials from the plugin's secrets, the label schema built from
a form, the preview of a load, and readable errors.

Nothing here talks to the App; every function works on a dataset (or an
operator's ``ctx`` for secrets) and can be called from Python directly.
"""

import contextlib
import json
import math
import time

import fiftyone as fo
import fiftyone.core.fields as fof
import fiftyone.core.labels as fol
import numpy as np
import requests

from fo_annotation_backends import registry
from fo_annotation_backends.core.errors import AnnotationBackendError
from fo_annotation_backends.core.secrets import get_logger, redact, register_secret

logger = get_logger(__name__)

PLUGIN_NAME = "@fo-annotation-backends/annotation"
PACKAGE = "fo_annotation_backends"

REQUEST_ANNOTATIONS = "request_annotations"
LOAD_ANNOTATIONS = "load_annotations"
GET_ANNOTATION_STATUS = "get_annotation_status"
CLEANUP_ANNOTATIONS = "cleanup_annotations"
DELETE_ANNOTATION_RUN = "delete_annotation_run"
ANNOTATION_RUNS_PANEL = "annotation_runs"

OPERATOR_NAMES = (
    REQUEST_ANNOTATIONS,
    LOAD_ANNOTATIONS,
    GET_ANNOTATION_STATUS,
    CLEANUP_ANNOTATIONS,
    DELETE_ANNOTATION_RUN,
)


def service_title(service, default=None):
    """The name the App shows for a service of the registry (``default``
    for a name the registry does not know)."""
    try:
        return registry.get(service).title
    except KeyError:
        return default


def uri(name):
    """The URI of one of this plugin's operators or panels."""
    return "%s/%s" % (PLUGIN_NAME, name)


# --------------------------------------------------------------------------
# Errors


class AnnotationPluginError(Exception):
    """An operation of the plugin failed; the message is readable and redacted
    (no API key, no traceback of the service call)."""

    def __init__(self, message):
        super().__init__(redact(str(message)))


def readable_message(error):
    """One line for the App: what went wrong, without keys."""
    if isinstance(error, (AnnotationBackendError, AnnotationPluginError)):
        message = str(error)
    elif isinstance(error, requests.RequestException):
        message = "the annotation service could not be reached (%s)" % type(error).__name__
        detail = str(error)
        if detail:
            message += ": %s" % detail
    else:
        message = "%s: %s" % (type(error).__name__, error)
    return redact(message)


@contextlib.contextmanager
def readable_errors(action, ctx=None):
    """Turns any error of the block into an :class:`AnnotationPluginError`
    ``"<action> failed: <message>"``, chained to nothing, so that the App
    shows one readable line and no traceback of the service call. The full
    error goes to the server log (redacted by this package's log filter).

    With an operator's ``ctx`` (not delegated), the message is also shown as
    an error notification (the App runs the operations an operator queued
    even when it fails)."""
    try:
        yield
    except Exception as error:
        if isinstance(error, AnnotationPluginError):
            failure = error
        else:
            logger.warning("%s failed", action, exc_info=True)
            failure = AnnotationPluginError("%s failed: %s" % (action, readable_message(error)))
        if ctx is not None and not getattr(ctx, "delegated", False):
            try:
                ctx.ops.notify(str(failure), variant="error")
            except Exception:
                pass
        if failure is error:
            raise
        raise failure from None


# --------------------------------------------------------------------------
# Our backends and runs


def service_of(config_cls):
    """The registry name of the service of a config class of this package
    (a class or a dotted path), else None."""
    service = registry.service_of_config_cls(config_cls)
    return service.name if service else None


def our_backends():
    """``{backend name: service}`` of the entries of
    ``fo.annotation_config.backends`` whose ``config_cls`` is one of ours."""
    out = {}
    for name, entry in (fo.annotation_config.backends or {}).items():
        service = service_of((entry or {}).get("config_cls"))
        if service:
            out[name] = service
    return out


def list_runs(dataset):
    """The dataset's annotation runs made with our backends, oldest first:
    dicts with ``anno_key``, ``backend``, ``service``, ``fields`` and
    ``created`` (ISO timestamp). Nothing is asked of the services."""
    runs = []
    for key in dataset.list_annotation_runs():
        try:
            info = dataset.get_annotation_info(key)
        except Exception as error:  # a run whose config class cannot be imported
            logger.debug("Skipping annotation run '%s': %s", key, error)
            continue
        config = info.config
        service = service_of(type(config))
        if service is None:
            continue
        timestamp = getattr(info, "timestamp", None)
        runs.append(
            {
                "anno_key": key,
                "backend": config.name,
                "service": service,
                "fields": list((config.label_schema or {}).keys()),
                "created": timestamp.isoformat(timespec="seconds") if timestamp is not None else None,
            }
        )
    runs.sort(key=lambda r: r["created"] or "")
    return runs


def get_run(dataset, anno_key):
    """The :func:`list_runs` entry of ``anno_key``; raises
    :class:`AnnotationPluginError` if it is not a run of our backends."""
    if anno_key not in dataset.list_annotation_runs():
        raise AnnotationPluginError("Dataset '%s' has no annotation run '%s'" % (dataset.name, anno_key))
    for run in list_runs(dataset):
        if run["anno_key"] == anno_key:
            return run
    raise AnnotationPluginError("Annotation run '%s' was not made with a backend of fo-annotation-backends" % anno_key)


# --------------------------------------------------------------------------
# Credentials from the plugin's secrets


def secret_names(service):
    """``{param: secret name}`` of a service, as listed in ``fiftyone.yml``."""
    prefix = "FIFTYONE_%s_" % service.upper()
    return {"url": prefix + "URL", "api_key": prefix + "API_KEY"}


def read_secret(ctx, key):
    """The value of one of the plugin's secrets, or None."""
    try:
        value = ctx.secrets.get(key)
    except Exception:
        return None
    value = getattr(value, "value", value)  # the resolver may hand out a secret object
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return value or None


def credentials(ctx, backend, config=None):
    """``url``/``api_key`` keyword arguments for ``annotate()`` or
    ``load_annotation_results()`` from the plugin's secrets, for what is not
    set already: by the backend's entry in the annotation config, or (for the
    URL) by the run's stored config. Keys are registered for redaction; they
    are never stored by the plugin.

    Args:
        ctx: an operator's execution context (anything with ``secrets``)
        backend: the backend name
        config (None): a run's config
    """
    service = service_of((fo.annotation_config.backends.get(backend) or {}).get("config_cls"))
    if service is None and config is not None:
        service = service_of(type(config))
    if service is None:
        return {}
    entry = fo.annotation_config.backends.get(backend) or {}
    out = {}
    for param, key in secret_names(service).items():
        if entry.get(param):
            continue
        if param == "url" and config is not None and getattr(config, "url", None):
            continue
        value = read_secret(ctx, key)
        if value:
            if param == "api_key":
                register_secret(value)
            out[param] = value
    return out


def run_credentials(ctx, dataset, anno_key):
    """:func:`credentials` for an existing run."""
    info = dataset.get_annotation_info(anno_key)
    return credentials(ctx, info.config.name, config=info.config)


def load_results(dataset, anno_key, creds=None):
    """The results of a run, loaded afresh with ``creds`` (not the copy
    FiftyOne caches on the dataset, which keeps the credentials it was
    loaded with)."""
    return dataset.load_annotation_results(anno_key, cache=False, **(creds or {}))


def forget_cached_results(dataset, anno_key):
    """Drops FiftyOne's cached results of a run, so that the next
    ``load_annotations()`` loads them with the credentials it is given."""
    cache = getattr(dataset, "_annotation_cache", None)
    if cache is not None:
        cache.pop(anno_key, None)


# --------------------------------------------------------------------------
# The label schema from the request form

#: label document type -> the label types it can be annotated as (first: inferred)
FIELD_LABEL_TYPES = {
    fol.Classification: ("classification",),
    fol.Classifications: ("classifications",),
    fol.Detection: ("detection", "instance"),
    fol.Detections: ("detections", "instances"),
    fol.Polyline: ("polyline", "polygon"),
    fol.Polylines: ("polylines", "polygons"),
    fol.Keypoint: ("keypoint",),
    fol.Keypoints: ("keypoints",),
    fol.Segmentation: ("segmentation",),
}

#: the label types a new field can have
NEW_FIELD_TYPES = (
    "classification",
    "classifications",
    "detections",
    "instances",
    "polylines",
    "polygons",
    "keypoints",
    "segmentation",
    "scalar",
)

ATTRIBUTE_TYPES = ("select", "radio", "checkbox", "text")

_SCALAR_FIELDS = (fof.IntField, fof.FloatField, fof.StringField, fof.BooleanField)
_RESERVED_FIELDS = {"id", "filepath", "tags", "metadata", "created_at", "last_modified_at"}


def annotatable_fields(collection):
    """``{field: label types}`` of the collection's existing fields that can
    be annotated (label fields and plain scalar fields); the first type is
    the inferred one."""
    reserved = set(_RESERVED_FIELDS)
    try:
        reserved.update(collection._dataset.app_config.media_fields or [])
    except Exception:
        pass
    out = {}
    for name, field in collection.get_field_schema().items():
        if name in reserved or name.startswith("_"):
            continue
        if isinstance(field, fof.EmbeddedDocumentField) and field.document_type in FIELD_LABEL_TYPES:
            out[name] = FIELD_LABEL_TYPES[field.document_type]
        elif isinstance(field, _SCALAR_FIELDS) and not isinstance(field, fof.ObjectIdField):
            out[name] = ("scalar",)
    return out


def _checkbox_value(value):
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "y", "on")
    return bool(value)


def build_attributes(attributes):
    """``{name: {"type", "values", "default"}}`` from the form's list of
    attribute dicts (``name``, ``type``, ``values``, ``default``)."""
    out = {}
    for attr in attributes or []:
        name = (attr or {}).get("name")
        if not name:
            continue
        attr_type = attr.get("type") or "text"
        spec = {"type": attr_type}
        values = [v for v in (attr.get("values") or []) if v not in (None, "")]
        if attr_type == "checkbox":
            values = []
        if values:
            spec["values"] = values
        default = attr.get("default")
        if default not in (None, ""):
            spec["default"] = _checkbox_value(default) if attr_type == "checkbox" else default
        out[name] = spec
    return out


def build_label_schema(label_field, label_type=None, classes=None, attributes=None):
    """The ``label_schema`` of one field, from the request form.

    Args:
        label_field: the field name
        label_type (None): the label type (None: FiftyOne infers it from an
            existing field)
        classes (None): a list of class names (for a new segmentation field
            they become the mask targets 1, 2, ...)
        attributes (None): a list of ``{"name", "type", "values",
            "default"}`` dicts
    """
    spec = {}
    if label_type:
        spec["type"] = label_type
    classes = [c for c in (classes or []) if c not in (None, "")]
    if label_type == "segmentation":
        if classes:
            spec["mask_targets"] = {i + 1: c for i, c in enumerate(classes)}
    elif classes:
        spec["classes"] = classes
    attrs = build_attributes(attributes)
    if attrs and label_type not in ("scalar", "segmentation"):
        spec["attributes"] = attrs
    return {label_field: spec}


# --------------------------------------------------------------------------
# Preview of a load

_RETURN_TYPES = {
    "classification": "classifications",
    "classifications": "classifications",
    "detection": "detections",
    "detections": "detections",
    "instance": "detections",
    "instances": "detections",
    "polyline": "polylines",
    "polylines": "polylines",
    "polygon": "polylines",
    "polygons": "polylines",
    "keypoint": "keypoints",
    "keypoints": "keypoints",
    "segmentation": "segmentation",
    "scalar": "scalar",
}
_LIST_TYPES = {"classifications", "detections", "instances", "polylines", "polygons", "keypoints"}

# what FiftyOne's merge writes on an existing label
_DEFAULT_FIELDS = {
    fol.Classification: ("label",),
    fol.Detection: ("label", "index"),
    fol.Polyline: ("label", "index"),
    fol.Keypoint: ("label", "index"),
}
_SPATIAL_FIELDS = {
    fol.Detection: ("bounding_box", "mask"),
    fol.Polyline: ("points", "closed", "filled"),
    fol.Keypoint: ("points",),
    fol.Segmentation: ("mask",),
}
_TOLERANCE = 1e-9


def preview_load(dataset, anno_key, **creds):
    """What ``dataset.load_annotations(anno_key)`` would change, without
    changing anything: the run's annotations are downloaded
    (``results.backend.download_annotations(results)``) and compared with the
    dataset's current labels by id, the way FiftyOne merges them.

    Args:
        dataset: the dataset
        anno_key: the run's key
        **creds: ``url``/``api_key`` for the run's results

    Returns:
        ``{field: {"added": n, "edited": n, "deleted": n}}``; labels of
        unexpected types count as added to the field named after their type
        (where ``unexpected="keep"`` puts them)
    """
    results = load_results(dataset, anno_key, creds)
    annotations = results.backend.download_annotations(results)
    return compare_annotations(dataset, results, annotations)


def compare_annotations(dataset, results, annotations):
    """The counts of :func:`preview_load` for downloaded ``annotations``."""
    preview = {}
    for field, info in (results.config.label_schema or {}).items():
        info = info or {}
        label_type = info.get("type")
        expected = _RETURN_TYPES.get(label_type)
        field_annos = annotations.get(field) or {}
        if expected == "scalar":
            counts = _compare_scalars(
                dataset, field, info, results.id_map.get(field) or {}, field_annos.get("scalar") or {}
            )
        elif expected is not None:
            counts = _compare_labels(
                dataset, field, label_type, info, results.id_map.get(field) or {}, field_annos.get(expected) or {}
            )
        else:
            counts = {"added": 0, "edited": 0, "deleted": 0}
        preview[field] = counts
        for anno_type, annos in field_annos.items():
            if anno_type == expected or not info.get("allow_additions", True):
                continue
            extra = preview.setdefault(anno_type, {"added": 0, "edited": 0, "deleted": 0})
            if anno_type == "scalar":
                extra["added"] += sum(1 for v in annos.values() if v is not None)
            else:
                extra["added"] += sum(len(labels or {}) for labels in annos.values())
    return preview


def _current_values(dataset, field, sample_ids):
    if not sample_ids or not dataset.has_sample_field(field):
        return {}
    ids, values = dataset.select(list(sample_ids)).values(["id", field])
    return dict(zip(ids, values))


def _compare_scalars(dataset, field, info, id_map, annos):
    allow_additions = info.get("allow_additions", True)
    allow_deletions = info.get("allow_deletions", True)
    uploaded = {s for s, v in id_map.items() if v is not None}
    sample_ids = uploaded | set(annos)
    current = _current_values(dataset, field, sample_ids)
    counts = {"added": 0, "edited": 0, "deleted": 0}
    for sample_id in sample_ids:
        value, new_value = current.get(sample_id), annos.get(sample_id)
        if _same(value, new_value):
            continue
        if value is None:
            counts["added"] += int(allow_additions)
        elif new_value is None:
            counts["deleted"] += int(allow_deletions)
        else:
            counts["edited"] += 1
    return counts


def _as_list(ids):
    if ids is None:
        return []
    if isinstance(ids, (list, tuple, set)):
        return [i for i in ids if i is not None]
    return [ids]


def _labels_of(value):
    if value is None:
        return {}
    if isinstance(value, fol._HasLabelList):
        return {label.id: label for label in (value[value._LABEL_LIST_FIELD] or [])}
    if isinstance(value, fol.Label):
        return {value.id: value}
    return {}


def _compare_labels(dataset, field, label_type, info, id_map, annos):
    allow_additions = info.get("allow_additions", True)
    allow_deletions = info.get("allow_deletions", True)
    is_list = label_type in _LIST_TYPES
    attr_names = _attribute_names(info)
    sample_ids = set(id_map) | set(annos)
    current = _current_values(dataset, field, sample_ids)
    counts = {"added": 0, "edited": 0, "deleted": 0}
    for sample_id in sample_ids:
        value = current.get(sample_id)
        labels = _labels_of(value)
        existing = set(_as_list(id_map.get(sample_id)))
        sample_annos = annos.get(sample_id) or {}
        returned = set(sample_annos)
        deleted = {i for i in existing - returned if i in labels} if allow_deletions else set()
        counts["deleted"] += len(deleted)
        remaining = {i: label for i, label in labels.items() if i not in deleted}
        merge = returned & existing
        if is_list:
            if value is None:
                counts["added"] += len(sample_annos) if allow_additions else 0
                continue
            if allow_additions:
                counts["added"] += len(returned - existing)
        elif not remaining:
            counts["added"] += 1 if (sample_annos and allow_additions) else 0
            continue
        for label_id, label in remaining.items():
            if label_id in merge and _changed(label, sample_annos[label_id], info, attr_names):
                counts["edited"] += 1
    return counts


def _attribute_names(info):
    """(global attribute names, {class: attribute names}) that the merge
    copies, as FiftyOne reads them from the run's schema (read-only ones are
    left alone)."""
    attributes = info.get("attributes")
    global_attrs = []
    if isinstance(attributes, dict):
        global_attrs = [k for k, v in attributes.items() if not (v or {}).get("read_only", False)]
    class_attrs = {}
    for entry in info.get("classes") or []:
        if isinstance(entry, dict):
            names = [k for k, v in (entry.get("attributes") or {}).items() if not (v or {}).get("read_only", False)]
            for name in entry.get("classes") or []:
                class_attrs.setdefault(name, []).extend(names)
    return global_attrs, class_attrs


def _changed(label, new, info, attr_names):
    fields = []
    for name in _DEFAULT_FIELDS.get(type(label), ()):
        if name == "label" and not info.get("allow_label_edits", True):
            continue
        if name == "index" and not info.get("allow_index_edits", True):
            continue
        fields.append(name)
    if info.get("allow_spatial_edits", True):
        fields.extend(_SPATIAL_FIELDS.get(type(label), ()))
    for name in fields:
        if name == "mask":
            if not _same(_mask(label), _mask(new)):
                return True
        elif not _same(getattr(label, name, None), getattr(new, name, None)):
            return True
    global_attrs, class_attrs = attr_names
    label_class = getattr(new if "label" in fields else label, "label", None)
    for name in list(global_attrs) + class_attrs.get(label_class, []):
        if not _same(label.get_attribute_value(name, None), new.get_attribute_value(name, None)):
            return True
    return False


def _mask(label):
    mask = getattr(label, "mask", None)
    if mask is None and getattr(label, "mask_path", None):
        try:
            mask = label.get_mask()
        except Exception:
            mask = None
    return mask


def _same(a, b):
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.shape == b.shape and bool(np.array_equal(a, b))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return False
        try:
            fa, fb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
        except (TypeError, ValueError):  # ragged or not numbers
            return all(_same(x, y) for x, y in zip(a, b))
        return fa.shape == fb.shape and bool(np.allclose(fa, fb, rtol=0, atol=_TOLERANCE, equal_nan=True))
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or (type(a) is type(b) and a == b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
            return True
        return math.isclose(a, b, rel_tol=0, abs_tol=_TOLERANCE)
    return a == b


def preview_markdown(preview):
    """The preview as readable lines, one per field."""
    if not preview:
        return "The run has no fields."
    lines = []
    for field, counts in preview.items():
        lines.append(
            "- **%s**: %d label(s) will be added, %d edited, %d deleted"
            % (field, counts.get("added", 0), counts.get("edited", 0), counts.get("deleted", 0))
        )
    return "\n".join(lines)


_PREVIEW_TTL = 30.0
#: ``(dataset name, run key) -> (time, preview)``
_preview_cache: dict[tuple, tuple] = {}


def cached_preview(dataset, anno_key, creds=None, ttl=_PREVIEW_TTL):
    """:func:`preview_load`, remembered for ``ttl`` seconds per run (the
    form that shows it is resolved again on every change)."""
    key = (str(dataset._doc.id), anno_key)
    now = time.monotonic()
    hit = _preview_cache.get(key)
    if hit is not None and now - hit[0] < ttl:
        return hit[1]
    preview = preview_load(dataset, anno_key, **(creds or {}))
    for stale in [k for k, (t, _) in _preview_cache.items() if now - t >= ttl]:
        _preview_cache.pop(stale, None)
    _preview_cache[key] = (now, preview)
    return preview


def forget_preview(dataset, anno_key):
    _preview_cache.pop((str(dataset._doc.id), anno_key), None)


# --------------------------------------------------------------------------
# Status


def jsonable(value):
    """``value`` with everything that JSON cannot hold turned into strings."""
    return json.loads(json.dumps(value, default=str))


def format_status(status, indent=""):
    """A run's ``get_status()`` dict as readable markdown lines."""
    if not isinstance(status, dict):
        return "%s- %s" % (indent, status)
    lines = []
    for name, value in status.items():
        label = str(name).replace("_", " ")
        if isinstance(value, dict):
            if not value:
                lines.append("%s- %s: none" % (indent, label))
                continue
            lines.append("%s- %s:" % (indent, label))
            lines.append(format_status(value, indent + "    "))
        elif isinstance(value, (list, tuple)):
            lines.append("%s- %s: %s" % (indent, label, ", ".join(str(v) for v in value) or "none"))
        else:
            lines.append("%s- %s: %s" % (indent, label, value))
    return "\n".join(lines)


def progress_summary(status):
    """One short line of a run's progress, from its ``get_status()`` (the
    common shape of ``core.runs.status_dict``)."""
    if not isinstance(status, dict):
        return str(status)
    total = status.get("total")
    service = status.get("service") or {}
    parts = []
    if "labeled" in status and total is not None:
        parts.append("%s/%s labeled" % (status["labeled"], total))
    if status.get("reviewed"):
        parts.append("%s reviewed" % status["reviewed"])
    statuses = service.get("statuses")
    if isinstance(statuses, dict) and statuses:
        parts.append(", ".join("%s: %s" % (k, v) for k, v in sorted(statuses.items())))
    if service.get("skipped"):
        parts.append("%s skipped" % service["skipped"])
    if status.get("missing"):
        parts.append("%s missing on the service" % status["missing"])
    if not parts and total is not None:
        parts.append("%s item(s)" % total)
    return "; ".join(parts) or "no progress reported"
