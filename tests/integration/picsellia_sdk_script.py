"""The official ``picsellia`` SDK (6.37.0) against the Picsellia emulator.

Run with the SDK's own virtualenv (the SDK is not a dependency of the
package); the emulator runs in that interpreter too (it needs Pillow and
requests, both SDK dependencies)::

    PYTHONPATH=<repo> <sdk venv>/bin/python tests/integration/picsellia_sdk_script.py [<url> <api key>]

With no arguments it starts an in-process emulator. It goes through the
SDK's lifecycle: ``Client()``, a datalake upload, a dataset and a version,
``add_data`` (a job), labels, annotations of several shapes, listing assets
and annotations, and prints ``OK`` at the end; any mismatch raises.
"""

from __future__ import annotations

import io
import os
import sys
import tempfile


def _png(path: str, width: int, height: int) -> None:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), (10, 120, 200)).save(buf, format="PNG")
    with open(path, "wb") as f:
        f.write(buf.getvalue())


def run(url: str, api_key: str) -> None:
    """The lifecycle; raises on the first mismatch."""
    from picsellia import Client
    from picsellia.types.enums import AnnotationStatus, InferenceType

    client = Client(api_token=api_key, host=url)
    datalake = client.get_datalake()
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for index, size in enumerate(((64, 48), (32, 32))):
            path = os.path.join(tmp, "img%d.png" % index)
            _png(path, *size)
            paths.append(path)
        datas = datalake.upload_data(paths)
    datas = list(datas)
    assert len(datas) == 2, datas
    dataset = client.create_dataset("sdk-dataset")
    version = dataset.create_version("v1", type=InferenceType.OBJECT_DETECTION)
    job = version.add_data(datas)
    job.wait_for_done()
    assets = version.list_assets()
    assert sorted(a.filename for a in assets) == ["img0.png", "img1.png"], [a.filename for a in assets]
    cat = version.create_label("cat")
    dog = version.get_or_create_label("dog")
    assert {label.name for label in version.list_labels()} == {"cat", "dog"}
    asset = version.find_asset(filename="img0.png")
    assert (asset.width, asset.height) == (64, 48)
    annotation = asset.create_annotation(duration=0)
    annotation.create_multiple_rectangles([(1, 2, 10, 20, cat), (5, 5, 8, 8, dog)])
    annotation.update(status=AnnotationStatus.ACCEPTED)
    loaded = annotation.list_rectangles()
    assert sorted(r.w for r in loaded) == [8, 10], loaded
    annotations = version.list_annotations()
    assert len(annotations) == 1
    assert len(version.list_annotations(status=AnnotationStatus.ACCEPTED)) == 1
    annotation.overwrite(rectangles=[(3, 3, 4, 4, dog)])
    assert [(r.w, r.label.name) for r in annotation.list_rectangles()] == [(4, "dog")]
    assert asset.get_annotation().id == annotation.id
    _coco_import(version, tmp_dir=tempfile.mkdtemp())
    loaded = version.load_annotations()
    assert len(loaded) == 2, loaded
    version.delete_all_annotations()
    assert not _annotation_ids(version)
    _campaign(client, version)
    print("OK")


def _campaign(client: object, version: object) -> None:
    """A campaign with one annotation step, launched: an assignment per asset."""
    user = client.list_users()[0]  # type: ignore[attr-defined]
    campaign = version.create_campaign(description="sdk")  # type: ignore[attr-defined]
    step = campaign.add_step(name="annotate", type="ANNOTATION", assignees=[(user, 1)])
    assert [s.id for s in campaign.list_steps()] == [step.id]
    campaign.launch().wait_for_done()
    assignments = campaign.list_assignments()
    assert len(assignments) == 2 and {a.status.value for a in assignments} == {"TO_DO"}, assignments
    assert {a.user_id for a in assignments} == {user.id}


def _annotation_ids(version: object) -> list[str]:
    from picsellia.exceptions import NoDataError

    try:
        return [a.id for a in version.list_annotations()]  # type: ignore[attr-defined]
    except NoDataError:
        return []


def _coco_import(version: object, tmp_dir: str) -> None:
    """A COCO file with a box on each image, imported through the SDK (bulk-annotations)."""
    import json

    coco = {
        "images": [
            {"id": 1, "file_name": "img0.png", "width": 64, "height": 48},
            {"id": 2, "file_name": "img1.png", "width": 32, "height": 32},
        ],
        "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "bird"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 6], "area": 30, "iscrowd": 0},
            {"id": 2, "image_id": 2, "category_id": 2, "bbox": [2, 2, 3, 3], "area": 9, "iscrowd": 0},
        ],
    }
    path = "%s/coco.json" % tmp_dir
    with open(path, "w") as f:
        json.dump(coco, f)
    result = version.import_annotations_coco_file(file_path=path, mode="REPLACE")  # type: ignore[attr-defined]
    assert sum(result.values()) == 2, result


def main(argv: list[str]) -> int:
    """Runs against ``argv[1:]`` (url, key) or an in-process emulator."""
    if len(argv) == 3:
        run(argv[1], argv[2])
        return 0
    from fo_annotation_backends.testing.picsellia import PicselliaEmulator

    with PicselliaEmulator(api_key="sdk-key") as emulator:
        run(emulator.url, emulator.api_key)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
