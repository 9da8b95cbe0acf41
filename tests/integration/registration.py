"""Registering a backend for a while, and datasets whose runs are cleaned
up: shared by the integration tests (importable as ``registration``, unlike
``conftest``, whose module name the unit tier's conftest shares)."""

import uuid

import fiftyone as fo

CONFIG_CLS = "fo_annotation_backends.labelstudio.LabelStudioBackendConfig"
KILI_CONFIG_CLS = "fo_annotation_backends.kili.KiliBackendConfig"
FASTLABEL_CONFIG_CLS = "fo_annotation_backends.fastlabel.FastLabelBackendConfig"
PICSELLIA_CONFIG_CLS = "fo_annotation_backends.picsellia.PicselliaBackendConfig"


def temporary_dataset(prefix):
    """A new dataset whose runs are cleaned up, then deleted."""
    ds = fo.Dataset("%s-%s" % (prefix, uuid.uuid4().hex[:10]))
    yield ds
    for key in ds.list_annotation_runs():
        try:
            ds.load_annotation_results(key).cleanup()
        except Exception:
            pass
    ds.delete()
