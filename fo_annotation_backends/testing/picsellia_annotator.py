"""A simulated human annotator for Picsellia-protocol servers.

It works through the same REST API as the service: it opens an asset's
newest annotation (creating one when the asset has none), replaces its
shapes (masks too, as COCO RLE counts strings) and, when given, its
image-level attributes with ``save`` (or edits and deletes one shape, as
the SDK's shape classes do), and sets its status (ACCEPTED or REFUSED).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import requests


class PicselliaAnnotator:
    """Works on the assets of a Picsellia dataset version as a person would.

    Args:
        url: the server's base URL (the SDK's ``host``)
        api_key: an API token
    """

    def __init__(self, url: str, api_key: str) -> None:
        self.url = url.rstrip("/")
        self._session = requests.Session()
        self._session.headers["Authorization"] = "Bearer %s" % api_key

    def __repr__(self) -> str:
        return "PicselliaAnnotator(%r)" % self.url

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        """The decoded JSON answer (``None`` when empty); an error status raises."""
        response = self._session.request(method, self.url + path, timeout=60, **kwargs)
        if response.status_code >= 400:
            raise RuntimeError("%s %s: %d %s" % (method, path, response.status_code, response.text[:300]))
        return response.json() if response.content else None

    def labels(self, version_id: str) -> dict[str, str]:
        """``{label name: label id}`` of a version."""
        items = self._call("GET", "/api/dataset/version/%s/labels" % version_id)["items"]
        return {label["name"]: label["id"] for label in items}

    def open(self, version_id: str, asset_id: str) -> dict[str, Any]:
        """The asset's newest annotation with its shapes (labels by name);
        a new empty one when the asset has none."""
        ids = self._call(
            "GET", "/api/dataset/version/%s/annotations/ids" % version_id, params={"asset_ids": [asset_id]}
        )
        if not ids:
            created = self._call("POST", "/api/asset/%s/annotations" % asset_id, json={"duration": 0})
            ids = [created["id"]]
        loaded = self._call("XGET", "/api/dataset/version/%s/annotations" % version_id, json=ids)
        return loaded[0]

    def annotate(
        self,
        version_id: str,
        asset_id: str,
        shapes: Mapping[str, Sequence[Mapping[str, Any]]],
        status: str = "ACCEPTED",
        duration: float = 0,
        attributes: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Replaces the shapes of the asset's newest annotation and sets its
        status. ``shapes`` maps a kind (``"rectangles"``, ``"polygons"``,
        ``"masks"``, ...) to shapes that name their label by ``"label"`` (a
        name) or ``"label_id"``; ``attributes`` (image-level, checked against
        the version's configuration) replace the annotation's when given.
        Returns the saved annotation."""
        labels = self.labels(version_id)
        annotation = self.open(version_id, asset_id)
        body: dict[str, Any] = {"duration": duration}
        if attributes is not None:
            body["attributes"] = dict(attributes)
        for kind, items in shapes.items():
            body[kind] = [_as_written(shape, labels) for shape in items]
        self._call("POST", "/api/annotation/%s/save" % annotation["id"], json=body)
        return self.set_status(annotation["id"], status)

    def edit_shape(self, kind: str, shape_id: str, **changes: Any) -> dict[str, Any]:
        """Edits one shape in place, as the SDK's ``Rectangle.update`` (``kind``:
        ``"rectangle"``, ``"polygon"``, ``"line"``, ``"point"`` or
        ``"classification"``): the fields given (geometry, ``label_id``,
        ``text``, ``attributes``) change, the others stay. Returns the shape."""
        edited: dict[str, Any] = self._call("PATCH", "/api/%s/%s" % (kind, shape_id), json=changes)
        return edited

    def delete_shape(self, kind: str, shape_id: str) -> None:
        """Deletes one shape (``kind`` as :meth:`edit_shape`, or ``"mask"``)."""
        self._call("DELETE", "/api/%s/%s" % (kind, shape_id))

    def refuse(self, version_id: str, asset_id: str) -> dict[str, Any]:
        """Refuses the asset's newest annotation, keeping its shapes."""
        return self.set_status(self.open(version_id, asset_id)["id"], "REFUSED")

    def set_attributes(self, version_id: str, config: Mapping[str, Any] | None) -> None:
        """Sets a version's attribute configuration (``None`` clears it)."""
        self._call("POST", "/api/dataset/version/%s/attributes" % version_id, json={"attributes": config})

    def attributes(self, version_id: str) -> dict[str, Any] | None:
        """A version's attribute configuration, or ``None``."""
        config: dict[str, Any] | None = self._call("GET", "/api/dataset/version/%s/attributes" % version_id)[
            "attributes"
        ]
        return config

    def set_status(self, annotation_id: str, status: str) -> dict[str, Any]:
        """Sets an annotation's status."""
        return self._call("PATCH", "/api/annotation/%s" % annotation_id, json={"status": status})


def _as_written(shape: Mapping[str, Any], labels: Mapping[str, str]) -> dict[str, Any]:
    """A shape as written: the label by id, no server-given id."""
    # id, area and bbox are the server's (a mask's area and box follow from its counts)
    out = {k: v for k, v in shape.items() if k not in ("id", "label", "area", "bbox")}
    if "label_id" not in out:
        if shape.get("label") not in labels:
            raise ValueError("unknown label %r" % shape.get("label"))
        out["label_id"] = labels[shape["label"]]
    return out


class PicselliaDemoResults(Protocol):
    """What :func:`demo_edits` reads of the demo run's results."""

    @property
    def version_id(self) -> str | None: ...

    @property
    def asset_ids(self) -> Mapping[str, str]: ...

    @property
    def interface_mapping(self) -> Mapping[str, Any] | None: ...


class DemoServer(Protocol):
    """What :func:`demo_edits` reads of the server."""

    url: str
    api_key: str


def demo_edits(server: DemoServer, results: PicselliaDemoResults, classes: Sequence[str], rng: random.Random) -> None:
    """The demo's people (``python -m fo_annotation_backends.demo --backend
    picsellia``): the same edits as Label Studio's demo person, in Picsellia's
    annotation tool (each asset's pre-annotation edited and ACCEPTED), the
    fourth of every four refused by a reviewer, one in eight left untouched."""
    annotator = PicselliaAnnotator(server.url, server.api_key)
    version_id = str(results.version_id)
    names = dict((results.interface_mapping or {})["label_names"]["ground_truth"])
    class_of = {name: cls for cls, name in names.items()}
    for n, (_sample_id, asset_id) in enumerate(sorted(results.asset_ids.items())):
        if n % 8 == 7:
            continue  # nobody opened this one: it keeps its labels
        boxes = [
            {k: v for k, v in box.items() if k != "id"}
            for box in annotator.open(version_id, asset_id).get("rectangles") or []
        ]
        if n % 4 == 0 and boxes:  # move and relabel the first box
            boxes[0]["x"] = max(0, boxes[0]["x"] - 2)
            name = class_of[boxes[0]["label"]]
            boxes[0]["label"] = names[classes[(classes.index(name) + 1) % len(classes)]]
        if n % 4 == 1 and boxes:  # delete the last box
            boxes.pop()
        if n % 4 == 2:  # add a box the model missed
            boxes.append({"label": names[rng.choice(list(classes))], "x": 16, "y": 12, "w": 20, "h": 16})
        status = "REFUSED" if n % 4 == 3 else "ACCEPTED"  # a reviewer refuses what nobody changed
        annotator.annotate(version_id, asset_id, {"rectangles": boxes}, status=status)
