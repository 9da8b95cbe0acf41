"""Registering a backend for a while, and datasets whose runs are cleaned
up: shared by the integration tests (importable as ``registration``, unlike
``conftest``, whose module name the unit tier's conftest shares)."""

import contextlib
import uuid

import fiftyone as fo

CONFIG_CLS = "fo_annotation_backends.labelstudio.LabelStudioBackendConfig"
KILI_CONFIG_CLS = "fo_annotation_backends.kili.KiliBackendConfig"
FASTLABEL_CONFIG_CLS = "fo_annotation_backends.fastlabel.FastLabelBackendConfig"


@contextlib.contextmanager
def registered_backend(name, entry):
    """``fo.annotation_config.backends[name] = entry`` for a while."""
    saved = fo.annotation_config.backends.get(name)
    fo.annotation_config.backends[name] = entry
    try:
        yield name
    finally:
        if saved is None:
            fo.annotation_config.backends.pop(name, None)
        else:
            fo.annotation_config.backends[name] = saved


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
