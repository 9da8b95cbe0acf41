"""Runs one FastLabel ``annotate()`` in a process of its own (a test kills it
with SIGKILL mid-upload).

    python fastlabel_annotate_script.py DATASET ANNO_KEY URL SCHEMA_JSON OPTIONS_JSON

The access token comes from ``FIFTYONE_FASTLABEL_API_KEY``; the FiftyOne
database from the environment the test runs in.
"""

import json
import sys

import fiftyone as fo


def main(dataset_name, anno_key, url, schema, options):
    fo.annotation_config.backends["fastlabel"] = {
        "config_cls": "fo_annotation_backends.fastlabel.FastLabelBackendConfig",
        "url": url,
    }
    dataset = fo.load_dataset(dataset_name)
    dataset.annotate(anno_key, backend="fastlabel", label_schema=json.loads(schema), **json.loads(options))


if __name__ == "__main__":
    main(*sys.argv[1:6])
