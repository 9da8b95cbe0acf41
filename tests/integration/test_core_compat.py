"""FiftyOne's private internals this package relies on, checked one by one
against the installed FiftyOne (``fo_annotation_backends.core.compat``): a
FiftyOne release that changes one fails here, by name."""

import collections.abc

import fiftyone as fo
import fiftyone.core.labels as fol
import fiftyone.utils.annotations as foua
import pytest

from fo_annotation_backends.core import compat

pytestmark = pytest.mark.integration


@pytest.fixture
def labelled(dataset, tmp_path):
    dataset.add_samples(
        [
            fo.Sample(
                filepath=str(tmp_path / ("%d.jpg" % i)),
                gt=fol.Detections(detections=[fol.Detection(label="a", bounding_box=[0.1, 0.1, 0.2, 0.2])]),
                kp=fol.Keypoints(keypoints=[fol.Keypoint(label="k", points=[[0.1, 0.2]])]),
                cls=fol.Classification(label="c"),
            )
            for i in range(3)
        ]
    )
    return dataset


def test_root_and_base_dataset_of_views_and_patches(labelled):
    view = labelled.limit(2)
    assert compat.root_dataset(view) is labelled
    assert compat.base_dataset(view) is labelled
    assert compat.root_dataset(labelled) is labelled
    patches = labelled.to_patches("gt")
    assert compat.root_dataset(patches) is labelled
    base = compat.base_dataset(patches)
    assert base is not labelled and base.has_sample_field("gt")


def test_label_lists_of_every_list_type(labelled):
    sample = labelled.first()
    assert [d.label for d in compat.label_list(sample.gt)] == ["a"]
    assert [k.label for k in compat.label_list(sample.kp)] == ["k"]
    assert compat.label_list(fol.Classifications(classifications=[])) == []
    assert compat.label_list(fol.Polylines()) == []
    assert compat.label_list(sample.cls) is None and not compat.is_label_list(sample.cls)
    assert compat.label_list(None) is None and compat.label_list(3) is None


def test_dataset_key_is_stable_across_renames(labelled):
    key = compat.dataset_key(labelled)
    assert key and isinstance(key, str)
    labelled.name = labelled.name + "-renamed"
    assert compat.dataset_key(labelled) == key
    assert compat.dataset_key(fo.load_dataset(labelled.name)) == key


def test_the_annotation_results_cache_is_what_load_annotation_results_reads(labelled):
    cache = compat.cached_annotation_results(labelled)
    assert isinstance(cache, collections.abc.MutableMapping)
    config = foua.AnnotationBackendConfig("compat", label_schema={"gt": {"type": "detections"}})
    results = foua.AnnotationResults(labelled, config, "compat_key", {"gt": {}})
    cache["compat_key"] = results
    try:
        # FiftyOne answers from the cache before it looks for the run's record
        assert labelled.load_annotation_results("compat_key") is results
    finally:
        cache.pop("compat_key", None)
    assert "compat_key" not in compat.cached_annotation_results(labelled)
