"""``annotate()`` with the Kili backend in a process of its own, for the test
that kills it mid-upload (``test_kili_ownership.py``).

Usage: ``python kili_killed_upload_script.py <dataset name> <run key> <label schema JSON>``,
with the emulator in ``KILI_TEST_URL`` and its key in ``KILI_TEST_API_KEY``.
"""

import json
import os
import sys

import fiftyone as fo


def main(dataset_name, anno_key, schema):
    fo.annotation_config.backends["kili"] = {
        "config_cls": "fo_annotation_backends.kili.KiliBackendConfig",
        "url": os.environ["KILI_TEST_URL"],
        "api_key": os.environ["KILI_TEST_API_KEY"],
    }
    dataset = fo.load_dataset(dataset_name)
    print("annotating", flush=True)
    dataset.annotate(anno_key, backend="kili", label_schema=json.loads(schema))
    print("finished", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])
