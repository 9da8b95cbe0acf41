"""Our Picsellia client against the Picsellia-protocol emulator, over HTTP:
the whole path a run takes (handshake, datalake upload, dataset and version,
labels, add data as a job, assets by data id, bulk import, load)."""

import numpy as np
from PIL import Image

from fo_annotation_backends.picsellia import PicselliaClient


def test_a_run_s_path_through_the_client(picsellia_emulator, tmp_path):
    client = PicselliaClient(picsellia_emulator.url, picsellia_emulator.api_key)
    path = str(tmp_path / "image.png")
    Image.fromarray((np.random.default_rng(0).random((48, 64, 3)) * 255).astype(np.uint8)).save(path)

    assert client.ping()["username"]
    organization = client.organization()
    datalake = client.datalake()
    data = client.upload_file(datalake, path, "sample-1.png", meta={"width": 64, "height": 48})
    assert client.find_data(datalake["id"], ["sample-1.png"])["sample-1.png"]["id"] == data["id"]

    dataset = client.create_dataset("fiftyone-run")
    assert client.find_dataset("fiftyone-run")["id"] == dataset["id"]
    version = client.create_version(dataset["id"], "run1", "OBJECT_DETECTION")
    assert client.find_version(dataset["id"], "run1")["id"] == version["id"]
    labels = client.labels(version["id"], ["cat", "dog"])
    assert client.labels(version["id"], ["cat"]) == {"cat": labels["cat"]}  # get or create

    client.add_data(version["id"], [data["id"]], poll_seconds=0.01)
    client.add_data(version["id"], [data["id"]], poll_seconds=0.01)  # already there: nothing sent
    asset = client.assets_by_data_id(version["id"], [data["id"]])[data["id"]]

    rectangle = {"x": 1, "y": 2, "w": 10, "h": 8, "label_id": labels["cat"], "text": "label-id"}
    client.import_annotations(version["id"], [{"asset_id": asset["id"], "rectangles": [rectangle]}])
    client.import_annotations(version["id"], [{"asset_id": asset["id"], "rectangles": [rectangle]}])  # REPLACE
    ids = client.annotation_ids(version["id"], [asset["id"]])
    (annotation,) = client.load_annotations(version["id"], ids)
    (shape,) = annotation["rectangles"]
    assert (shape["label"], shape["text"], shape["x"], shape["w"]) == ("cat", "label-id", 1, 10)
    assert organization["id"] and client.request_count > 0

    client.delete_version(version["id"])
    assert client.get_version(version["id"]) is None
    client.close()
