"""Annotations of the Picsellia emulator's state: create, shapes, save,
status, bulk import, list, load and delete, masks by id, and a version's
attribute configuration. Callers hold the state's lock."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .attributes import check_config, check_values
from .formats import (
    ANNOTATION_STATUSES,
    GEOMETRY_KEYS,
    IMPORT_TYPES,
    SHAPE_KINDS,
    Json,
    PicselliaError,
    bad_request,
    check_shapes,
    new_id,
    not_found,
    paginate,
    require_choice,
    require_dict,
    require_ids,
)

#: the shape kinds a bulk import item may carry
IMPORT_KINDS = ("rectangles", "polygons", "classifications", "keypoints", "masks")
#: the shape kind of each one-shape route ``/api/<name>/{id}`` (the SDK's shape classes; keypoints have none)
SHAPE_OF_NAME = {
    "rectangle": "rectangles",
    "polygon": "polygons",
    "line": "lines",
    "point": "points",
    "classification": "classifications",
    "mask": "masks",
}


class AnnotationState:
    """The containers of the state, their lookups, and the annotations."""

    annotations: dict[str, dict[str, Any]]
    versions: dict[str, dict[str, Any]]
    assets: dict[str, dict[str, Any]]
    datas: dict[str, dict[str, Any]]
    assignments: dict[str, dict[str, Any]]
    sequence: int

    def next_seq(self) -> int:
        """A strictly increasing number (creation order)."""
        self.sequence += 1
        return self.sequence

    def version(self, version_id: str) -> dict[str, Any]:
        """A version by id (404 otherwise)."""
        version = self.versions.get(version_id)
        if version is None:
            raise not_found("dataset version", version_id)
        return version

    def asset(self, asset_id: str) -> dict[str, Any]:
        """An asset by id (404 otherwise)."""
        asset = self.assets.get(asset_id)
        if asset is None:
            raise not_found("asset", asset_id)
        return asset

    def annotation(self, annotation_id: str) -> dict[str, Any]:
        """An annotation by id (404 otherwise)."""
        annotation = self.annotations.get(annotation_id)
        if annotation is None:
            raise not_found("annotation", annotation_id)
        return annotation

    # -- one annotation ----------------------------------------------------------------------

    def create_annotation(self, asset_id: str, body: Json, status: str = "PENDING") -> dict[str, Any]:
        """``POST /api/asset/{a}/annotations``: a new empty annotation."""
        asset = self.asset(asset_id)
        body = require_dict(body if body is not None else {}, allowed=("duration", "worker_id"))
        annotation = {
            "id": new_id(),
            "asset_id": asset_id,
            "version_id": asset["version_id"],
            "duration": _duration(body.get("duration", 0)),
            "status": status,
            "attributes": {},
            "_seq": self.next_seq(),
            "_shapes": {kind: [] for kind in SHAPE_KINDS},
        }
        self.annotations[annotation["id"]] = annotation
        return public_annotation(annotation)

    def _checked(self, annotation: Mapping[str, Any], kind: str, shapes: Json) -> list[dict[str, Any]]:
        version = self.version(annotation["version_id"])
        meta = self.datas[self.assets[annotation["asset_id"]]["data_id"]]["meta"]
        if not meta:
            raise bad_request("the asset's data is not processed: its size is unknown")
        checked = check_shapes(kind, shapes, version["type"], version["_labels"], meta["width"], meta["height"])
        for index, shape in enumerate(checked):
            check_values(version["_attributes"], shape["attributes"], "%s[%d]" % (kind, index))
            shape["id"] = new_id()
        return checked

    def _annotation_attributes(self, version_id: str, values: Json) -> dict[str, Any]:
        """An annotation's (image-level) ``attributes``, checked against the version's configuration."""
        return dict(check_values(self.version(version_id)["_attributes"], values, "annotation attributes"))

    # -- attribute configuration -------------------------------------------------------------

    def set_attributes(self, version_id: str, body: Json) -> dict[str, Any]:
        """``POST V/attributes {"attributes": {name: configuration} | null}``;
        the values already written are not checked again."""
        version = self.version(version_id)
        body = require_dict(body, allowed=("attributes",), required=("attributes",))
        version["_attributes"] = check_config(body["attributes"])
        return self.get_attributes(version_id)

    def get_attributes(self, version_id: str) -> dict[str, Any]:
        """``GET V/attributes``: ``{"attributes": {...} | null}``."""
        config = self.version(version_id)["_attributes"]
        return {"attributes": {k: dict(v) for k, v in config.items()} if config is not None else None}

    def _refuse_synced(self, annotation: Mapping[str, Any], verb: str) -> None:
        """400 on an annotation of an asset synced in a campaign (shape writes
        "can be called on assets that are not synced in a campaign")."""
        if any(a["asset_id"] == annotation["asset_id"] for a in self.assignments.values()):
            raise bad_request("shapes can be %s only on assets not synced in a campaign" % verb)

    def add_shapes(self, annotation_id: str, kind: str, body: Json) -> dict[str, list[dict[str, Any]]]:
        """``POST /api/annotation/{id}/bulk-<kind>``: appends shapes; answers
        ``{kind: [created shapes]}``."""
        annotation = self.annotation(annotation_id)
        body = require_dict(body, allowed=(kind,), required=(kind,))
        self._refuse_synced(annotation, "added")
        shapes = self._checked(annotation, kind, body[kind])
        annotation["_shapes"][kind].extend(shapes)
        return {kind: [self._loaded_shape(annotation, s, True) for s in shapes]}

    def save(self, annotation_id: str, body: Json) -> dict[str, Any]:
        """``POST /api/annotation/{id}/save``: the shapes given replace every
        shape of the annotation (a kind not given is emptied); ``attributes``
        (the web app's image-level attributes) replace the annotation's when
        given and are kept otherwise (the SDK's ``overwrite`` sends none)."""
        annotation = self.annotation(annotation_id)
        body = require_dict(body, allowed=("duration", "attributes") + SHAPE_KINDS)
        new = {kind: self._checked(annotation, kind, body.get(kind) or []) for kind in SHAPE_KINDS}
        attributes = self._annotation_attributes(annotation["version_id"], body.get("attributes"))
        annotation["_shapes"] = new
        if "attributes" in body:
            annotation["attributes"] = attributes
        if "duration" in body:
            annotation["duration"] = _duration(body["duration"])
        return self.loaded(annotation)

    def update_annotation(self, annotation_id: str, body: Json) -> dict[str, Any]:
        """``PATCH /api/annotation/{id}``: the status, duration and (replaced) attributes."""
        annotation = self.annotation(annotation_id)
        body = require_dict(body, allowed=("status", "duration", "worker_id", "attributes"))
        status = require_choice(body.get("status", annotation["status"]), "status", ANNOTATION_STATUSES)
        duration = _duration(body.get("duration", annotation["duration"]))
        if "attributes" in body:
            annotation["attributes"] = self._annotation_attributes(annotation["version_id"], body["attributes"])
        annotation["status"], annotation["duration"] = status, duration
        return public_annotation(annotation)

    # -- bulk import -------------------------------------------------------------------------

    def bulk_import(self, version_id: str, body: Json) -> dict[str, int]:
        """``POST V/bulk-annotations``: one annotation per item, checked in full
        before anything is written; answers ``{annotation id: shapes created}``
        (the SDK adds these counts up). An item's ``attributes`` (null: none)
        become the annotation's; ``CONCATENATE`` merges them into the newest
        annotation's."""
        self.version(version_id)
        body = require_dict(body, allowed=("import_type", "status", "annotations"), required=("annotations",))
        import_type = require_choice(body.get("import_type", "REPLACE"), "import_type", IMPORT_TYPES)
        status = require_choice(body.get("status", "PENDING"), "status", ANNOTATION_STATUSES)
        items = body["annotations"]
        if not isinstance(items, list) or not items:
            raise bad_request("annotations must be a non-empty list")
        plans = []
        seen: set[str] = set()
        for item in items:
            item = require_dict(item, allowed=IMPORT_KINDS + ("attributes", "duration"), required=("asset_id",))
            asset_id = item["asset_id"]
            asset = self.assets.get(asset_id) if isinstance(asset_id, str) else None
            if asset is None or asset["version_id"] != version_id:
                raise not_found("asset", asset_id)
            if asset_id in seen:
                raise bad_request("asset %s appears twice in one import" % asset_id)
            seen.add(asset_id)
            probe = {"version_id": version_id, "asset_id": asset_id}
            shapes = {kind: self._checked(probe, kind, item.get(kind) or []) for kind in IMPORT_KINDS}
            plans.append((asset_id, shapes, self._annotation_attributes(version_id, item.get("attributes"))))
        out: dict[str, int] = {}
        synced = {a["asset_id"] for a in self.assignments.values()}
        for asset_id, shapes, attributes in plans:
            if asset_id in synced:  # "annotations of assets already in a campaign won't be imported"
                continue
            existing = self.latest(asset_id)
            if existing is not None and import_type == "KEEP":
                continue
            if existing is not None and import_type == "REPLACE":
                for ann_id in [k for k, a in self.annotations.items() if a["asset_id"] == asset_id]:
                    del self.annotations[ann_id]
                existing = None
            if existing is None:
                existing = self.annotations[self.create_annotation(asset_id, {}, status=status)["id"]]
            else:
                existing["status"] = status
            existing["attributes"].update(attributes)
            for kind, added in shapes.items():
                existing["_shapes"][kind].extend(added)
            out[existing["id"]] = sum(len(added) for added in shapes.values())
        return out

    def latest(self, asset_id: str) -> dict[str, Any] | None:
        """The newest annotation of an asset, or ``None``."""
        found = [a for a in self.annotations.values() if a["asset_id"] == asset_id]
        return max(found, key=lambda a: a["_seq"]) if found else None

    # -- list, load, delete ------------------------------------------------------------------

    def _of_version(self, version_id: str, query: Mapping[str, list[str]]) -> list[dict[str, Any]]:
        self.version(version_id)
        statuses = query.get("status") or []
        for status in statuses:
            require_choice(status, "status", ANNOTATION_STATUSES)
        found = [a for a in self.annotations.values() if a["version_id"] == version_id]
        if statuses:
            found = [a for a in found if a["status"] in statuses]
        return sorted(found, key=lambda a: a["_seq"])

    def list_annotations(self, version_id: str, query: Mapping[str, list[str]]) -> dict[str, Any]:
        """``GET V/annotations?limit&offset&status``."""
        return paginate([public_annotation(a) for a in self._of_version(version_id, query)], query)

    def annotation_ids(self, version_id: str, query: Mapping[str, list[str]]) -> list[str]:
        """``GET V/annotations/ids?status=&asset_ids=``."""
        found = self._of_version(version_id, query)
        asset_ids = query.get("asset_ids")
        if asset_ids:
            found = [a for a in found if a["asset_id"] in set(asset_ids)]
        return [a["id"] for a in found]

    def load(self, version_id: str, body: Json) -> list[dict[str, Any]]:
        """``XGET V/annotations`` with a list of ids: the annotations with
        their shapes, newest first per asset."""
        self.version(version_id)
        ids = require_ids(body, "the body", PAGE_LOAD_CAP)
        found = []
        for annotation_id in ids:
            annotation = self.annotations.get(annotation_id)
            if annotation is None or annotation["version_id"] != version_id:
                raise not_found("annotation", annotation_id)
            found.append(annotation)
        found.sort(key=lambda a: (self.assets[a["asset_id"]]["_seq"], -a["_seq"]))
        return [self.loaded(a) for a in found]

    def loaded(self, annotation: Mapping[str, Any]) -> dict[str, Any]:
        """An annotation with its shapes, labels by name."""
        out = public_annotation(annotation)
        for kind in SHAPE_KINDS:
            out[kind] = [self._loaded_shape(annotation, s) for s in annotation["_shapes"][kind]]
        return out

    def _loaded_shape(
        self, annotation: Mapping[str, Any], shape: Mapping[str, Any], label_object: bool = False
    ) -> dict[str, Any]:
        """A shape as answered: the label by name (a load), or as a label
        object ``{"id", "name", "group_id"}`` (the shape endpoints)."""
        name = self.versions[annotation["version_id"]]["_labels"].get(shape["label_id"])
        out = {k: v for k, v in shape.items() if k != "label_id"}
        out["label"] = {"id": shape["label_id"], "name": name, "group_id": None} if label_object else name
        return out

    def shapes_of(self, annotation_id: str, kind: str) -> dict[str, Any]:
        """``GET /api/annotation/{id}/<kind>``: ``{"items", "count"}``."""
        annotation = self.annotation(annotation_id)
        items = [self._loaded_shape(annotation, s, True) for s in annotation["_shapes"].get(kind, [])]
        return {"items": items, "count": len(items)}

    def shape(self, kind: str, shape_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """The annotation holding a shape of a kind, and the shape (404 otherwise)."""
        for annotation in self.annotations.values():
            for shape in annotation["_shapes"][kind]:
                if shape["id"] == shape_id:
                    return annotation, shape
        raise not_found(kind[:-1], shape_id)

    def read_shape(self, kind: str, shape_id: str) -> dict[str, Any]:
        """``GET /api/<kind>/{id}``: the shape with its label object."""
        annotation, shape = self.shape(kind, shape_id)
        return self._loaded_shape(annotation, shape, True)

    def update_shape(self, kind: str, shape_id: str, body: Json) -> dict[str, Any]:
        """``PATCH /api/<kind>/{id}`` (the SDK's ``Rectangle.update``...): the
        fields given replace the shape's (geometry, ``label_id``, ``text``,
        ``attributes``), the others are kept; the result is checked as a new
        shape (image bounds, integer rectangles, the version's labels and
        attributes), and refused on an asset synced in a campaign."""
        annotation, shape = self.shape(kind, shape_id)
        geometry = (
            ("x", "y", "w", "h") if kind == "rectangles" else ((GEOMETRY_KEYS[kind],) if kind in GEOMETRY_KEYS else ())
        )
        editable = geometry + ("label_id", "text", "attributes")
        body = require_dict(body, allowed=editable)
        self._refuse_synced(annotation, "edited")
        merged = {k: v for k, v in shape.items() if k in editable}
        merged.update(body)
        (checked,) = self._checked(annotation, kind, [merged])
        checked["id"] = shape_id
        shape.clear()
        shape.update(checked)
        return self._loaded_shape(annotation, shape, True)

    def delete_shape(self, kind: str, shape_id: str) -> None:
        """``DELETE /api/<kind>/{id}`` (refused on an asset synced in a campaign, as shape writes)."""
        annotation, shape = self.shape(kind, shape_id)
        self._refuse_synced(annotation, "deleted")
        annotation["_shapes"][kind].remove(shape)

    def delete_annotation(self, annotation_id: str) -> None:
        """``DELETE /api/annotation/{id}``."""
        self.annotation(annotation_id)
        del self.annotations[annotation_id]

    def delete_annotations(self, version_id: str, body: Json) -> None:
        """``DELETE V/annotations {"asset_ids", "annotation_ids"?}``."""
        version = self.version(version_id)
        body = require_dict(body, allowed=("asset_ids", "annotation_ids"), required=("asset_ids",))
        asset_ids = require_ids(body["asset_ids"], "asset_ids")
        if asset_ids == ["__all__"]:
            if version.get("annotation_campaign_id"):
                raise bad_request("deleting all annotations is refused on a version with a campaign")
            asset_ids = list(version["_assets"])
        for asset_id in asset_ids:
            if asset_id not in version["_assets"]:
                raise not_found("asset", asset_id)
        doomed = [k for k, a in self.annotations.items() if a["asset_id"] in set(asset_ids)]
        if "annotation_ids" in body and body["annotation_ids"] is not None:
            wanted = require_ids(body["annotation_ids"], "annotation_ids")
            unknown = [i for i in wanted if i not in doomed]
            if unknown:
                raise not_found("annotation", unknown[0])
            doomed = wanted
        for ann_id in doomed:
            del self.annotations[ann_id]


#: the most ids one load may ask for
PAGE_LOAD_CAP = 1000


def public_annotation(annotation: Mapping[str, Any]) -> dict[str, Any]:
    """An annotation as answered, without shapes."""
    out = {k: annotation[k] for k in ("id", "asset_id", "duration", "status")}
    out["attributes"] = dict(annotation["attributes"])
    return out


def _duration(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise PicselliaError(400, "duration must be a number >= 0")
    return value
