"""A MULTI version (fields drawing several kinds of shapes): any tool may use
any label there, so a shape drawn with another tool than its field's comes
back as FiftyOne's unexpected label; single points of a keypoints field's
label are its keypoints."""

import builtins

import fiftyone as fo
import numpy as np
import pytest
from dataset_helpers import add_images, dets

from fo_annotation_backends.testing.picsellia_annotator import PicselliaAnnotator
from fo_annotation_backends.testing.registration import registered_backend

pytestmark = pytest.mark.integration

CONFIG_CLS = "fo_annotation_backends.picsellia.PicselliaBackendConfig"


@pytest.fixture
def multi_run(picsellia_emulator, tmp_path, monkeypatch):
    monkeypatch.setattr(builtins, "input", lambda *a: pytest.fail("load_annotations prompted"))
    dataset = add_images(fo.Dataset(), str(tmp_path), 1, 100, 80, boxes=lambda i: dets(("cat", [0.1, 0.1, 0.2, 0.2])))
    schema = {
        "boxes": {"type": "detections", "classes": ["cat", "dog"]},
        "pose": {"type": "keypoints", "classes": ["person"]},
    }
    entry = {"config_cls": CONFIG_CLS, "url": picsellia_emulator.url, "api_key": picsellia_emulator.api_key}
    with registered_backend("picsellia", entry):
        results = dataset.annotate("multi", backend="picsellia", label_schema=schema)
        yield dataset, results, PicselliaAnnotator(picsellia_emulator.url, picsellia_emulator.api_key)
        results.cleanup()
    dataset.delete()


def test_a_shape_drawn_with_another_tool_is_an_unexpected_label(multi_run):
    dataset, results, annotator = multi_run
    assert results.interface_mapping["version_type"] == "MULTI"
    sample = dataset.first()
    asset_id = results.asset_ids[sample.id]
    opened = annotator.open(results.version_id, asset_id)
    rectangles = [{k: v for k, v in r.items() if k != "id"} for r in opened["rectangles"]]
    annotator.annotate(
        results.version_id,
        asset_id,
        {
            "rectangles": rectangles + [{"label": "person", "x": 50, "y": 40, "w": 10, "h": 8}],
            "keypoints": [{"label": "cat", "keypoints": [[30, 40, 2]]}],
            "points": [{"label": "person", "point": [10, 20]}, {"label": "person", "point": [20, 20]}],
        },
    )
    returned = dataset.load_annotations("multi", unexpected="return")
    sample.reload()
    assert [d.label for d in sample.boxes.detections] == ["cat"]
    (pose,) = sample.pose.keypoints
    assert pose.label == "person" and np.allclose(pose.points, [[0.1, 0.25], [0.2, 0.25]])
    assert set(returned) == {"boxes", "pose"}
    (points,) = returned["boxes"]["keypoints"][sample.id].values()
    assert points.label == "cat" and np.allclose(points.points, [[0.3, 0.5]])
    (drawn,) = returned["pose"]["detections"][sample.id].values()
    assert drawn.label == "person" and drawn.bounding_box == pytest.approx([0.5, 0.5, 0.1, 0.1])
