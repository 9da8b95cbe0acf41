"""The official ``picsellia`` SDK (6.37.0) against the Picsellia emulator.

Run with the SDK's own virtualenv (the SDK is not a dependency of the
package); the emulator runs in that interpreter too (it needs Pillow and
requests, both SDK dependencies)::

    PYTHONPATH=<repo> <sdk venv>/bin/python tests/integration/picsellia_sdk_script.py [<url> <api key>]

With no arguments it starts an in-process emulator. It goes through the
SDK's lifecycle: ``Client()``, a datalake upload, a dataset and a version,
``add_data`` (a job), labels, annotations of several shapes, listing assets
and annotations, a campaign; then a MASK version: an attribute configuration
(``set_attributes``/``get_attributes``), masks (COCO RLE) written, read and
deleted through the SDK's ``Mask`` objects, and a COCO import of RLE masks
with attributes. It prints ``OK`` at the end; any mismatch raises.
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
    _masks_and_attributes(dataset, datas)
    print("OK")


#: COCO compressed RLE counts (made with fo_annotation_backends.picsellia.rle): a 7 x 5 block at (3, 2) of the
#: 64 x 48 image, a 4 x 5 block at (6, 4) of the 32 x 32 one
MASK_64X48, MASK_32X32 = "b45[100000000000n`2", "T65k000000le0"

ATTRIBUTES = {
    "weather": {"display_name": "Weather", "required": True, "input_type": "STRING", "choices": ["sun", "rain"]},
    "quality": {"display_name": "Quality", "required": False, "input_type": "INTEGER", "min": 0, "max": 5},
    "occluded": {"required": False, "input_type": "BOOLEAN"},
}


def _masks_and_attributes(dataset: object, datas: list[object]) -> None:
    """A MASK version: attribute configuration, masks through the SDK, a COCO import of RLE masks with attributes."""
    from picsellia.exceptions import BadRequestError, ResourceNotFoundError
    from picsellia.types.enums import InferenceType

    version = dataset.create_version("masks", type=InferenceType.MASK)  # type: ignore[attr-defined]
    version.add_data(datas).wait_for_done()
    assert version.get_attributes() is None
    version.set_attributes(ATTRIBUTES)
    got = version.get_attributes()
    assert set(got) == set(ATTRIBUTES) and got["quality"]["max"] == 5, got
    try:
        version.set_attributes({"bad": {"required": True, "archived": True, "input_type": "STRING"}})
        raise AssertionError("an archived required attribute was accepted")
    except BadRequestError:
        pass
    cat = version.create_label("cat")
    asset = version.find_asset(filename="img0.png")
    annotation = asset.create_annotation(duration=0)
    mask = annotation.create_mask(MASK_64X48, cat)
    assert (mask.mask, mask.area, mask.bbox, mask.label.name) == (MASK_64X48, 35, [3, 2, 7, 5], "cat"), mask
    assert [m.id for m in annotation.list_masks()] == [mask.id]
    mask.sync()
    assert mask.attributes == {} and mask.text is None
    try:
        annotation.create_mask("06", cat)  # 6 pixels for a 64 x 48 image
        raise AssertionError("a mask of another size was accepted")
    except BadRequestError:
        pass
    mask.delete()
    assert annotation.list_masks() == []
    try:
        mask.sync()
        raise AssertionError("a deleted mask was found")
    except ResourceNotFoundError:
        pass
    annotation.overwrite(masks=[(MASK_64X48, cat)])
    assert [m.area for m in annotation.list_masks()] == [35]
    _coco_masks(version)


def _coco_masks(version: object) -> None:
    """A COCO file of RLE masks with image and annotation attributes, imported (bulk-annotations)."""
    import json

    from picsellia.exceptions import BadRequestError

    images = [
        {"id": 1, "file_name": "img0.png", "width": 64, "height": 48, "attributes": {"weather": "sun"}},
        {"id": 2, "file_name": "img1.png", "width": 32, "height": 32, "attributes": {"weather": "rain"}},
    ]
    annotations = [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [3, 2, 7, 5], "iscrowd": 1,
         "segmentation": {"size": [48, 64], "counts": MASK_64X48}, "attributes": {"quality": 4, "occluded": False}},
        {"id": 2, "image_id": 2, "category_id": 1, "bbox": [6, 4, 4, 5], "iscrowd": 1,
         "segmentation": {"size": [32, 32], "counts": MASK_32X32}},
    ]  # fmt: skip
    coco = {"images": images, "categories": [{"id": 1, "name": "cat"}], "annotations": annotations}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "coco.json")
        with open(path, "w") as f:
            json.dump(coco, f)
        result = version.import_annotations_coco_file(file_path=path, mode="REPLACE")  # type: ignore[attr-defined]
        assert sum(result.values()) == 2, result
        by_asset = version.load_annotations()  # type: ignore[attr-defined]
        loaded = [a for annotations in by_asset.values() for a in annotations]  # newest first per asset
        assert len(loaded) == 2, by_asset
        by_attributes = {a["attributes"]["weather"]: a for a in loaded}
        assert set(by_attributes) == {"sun", "rain"}, loaded
        (sun,) = by_attributes["sun"]["masks"]
        assert (sun["mask"], sun["label"], sun["area"], sun["attributes"]) == (
            MASK_64X48, "cat", 35, {"quality": 4, "occluded": False}
        ), sun  # fmt: skip
        assert [m["bbox"] for m in by_attributes["rain"]["masks"]] == [[6, 4, 4, 5]]
        annotations[0]["attributes"] = {"quality": 9}  # above max
        with open(path, "w") as f:
            json.dump(coco, f)
        try:
            version.import_annotations_coco_file(file_path=path, mode="REPLACE")  # type: ignore[attr-defined]
            raise AssertionError("an attribute above its max was accepted")
        except BadRequestError:
            pass


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
