"""The official ``picsellia`` SDK (6.37.0) as a person working on a version
our backend made: it finds the version, lists its assets and labels, and
edits annotations through the SDK's own methods. Run with the SDK's
virtualenv (the SDK is not a dependency of the package)::

    <sdk venv>/bin/python picsellia_sdk_annotator_script.py URL API_KEY CONFIG_JSON

``CONFIG_JSON``: ``{"version_id", "dataset", "version": names, "add",
"redraw", "edit": filenames}``.
Prints one JSON line: what the SDK saw and did.
"""

from __future__ import annotations

import json
import sys


def run(url: str, api_key: str, config: dict) -> dict:
    """The SDK's work; returns what it saw."""
    from picsellia import Client
    from picsellia.types.enums import AnnotationStatus

    client = Client(api_token=api_key, host=url)
    version = client.get_dataset_version_by_id(config["version_id"])
    by_names = client.get_dataset(config["dataset"]).get_version(config["version"])  # as a person finds it
    assert by_names.id == version.id, (by_names.id, version.id)
    assets = {asset.filename: asset for asset in version.list_assets()}
    labels = {label.name: label for label in version.list_labels()}
    out: dict = {
        "version_id": str(version.id),
        "type": version.type.value,
        "filenames": sorted(assets),
        "labels": sorted(labels),
        "sizes": sorted({(a.width, a.height) for a in assets.values()}),
    }

    # a box added next to the pre-annotations, which stay as they are
    asset = assets[config["add"]]
    annotation = asset.get_annotation()
    out["sent"] = sorted(
        [r.text, r.label.name, r.x, r.y, r.w, r.h] for r in annotation.list_rectangles()
    )  # fmt: skip
    added = annotation.create_rectangle(40, 30, 16, 12, labels["dog"])
    out["added_id"] = str(added.id)
    annotation.update(status=AnnotationStatus.ACCEPTED)

    # every box redrawn from scratch (``overwrite``: shapes without our ids)
    asset = assets[config["redraw"]]
    annotation = asset.get_annotation()
    annotation.overwrite(rectangles=[(8, 6, 32, 24, labels["cat"])])
    annotation.update(status="ACCEPTED")
    out["redrawn"] = sorted([r.text, r.label.name, r.w] for r in annotation.list_rectangles())

    # one box moved and relabelled in place (its text, our label id, given again), the other deleted
    asset = assets[config["edit"]]
    annotation = asset.get_annotation()
    cat, dog = sorted(annotation.list_rectangles(), key=lambda r: r.label.name)
    cat.update(x=24, y=12, w=32, h=18, label=labels["dog"], text=cat.text)
    out["edited"] = [cat.text, cat.label.name, cat.x, cat.y, cat.w, cat.h]
    out["deleted"] = dog.text
    dog.delete()
    out["left"] = sorted([r.text, r.label.name, r.x, r.y, r.w, r.h] for r in annotation.list_rectangles())
    annotation.update(status=AnnotationStatus.ACCEPTED)
    out["accepted"] = len(version.list_annotations(status=AnnotationStatus.ACCEPTED))
    return out


if __name__ == "__main__":
    print(json.dumps(run(sys.argv[1], sys.argv[2], json.loads(sys.argv[3]))))
