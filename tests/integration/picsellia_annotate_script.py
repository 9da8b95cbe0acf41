"""Runs one Picsellia ``annotate()`` in a process of its own (a test kills it
with SIGKILL mid-upload).

    python picsellia_annotate_script.py DATASET ANNO_KEY URL SCHEMA_JSON OPTIONS_JSON

The API token comes from ``FIFTYONE_PICSELLIA_API_KEY``; the FiftyOne
database from the environment the test runs in.
"""

import json
import sys

import fiftyone as fo


def main(dataset_name, anno_key, url, schema, options):
    fo.annotation_config.backends["picsellia"] = {
        "config_cls": "fo_annotation_backends.picsellia.PicselliaBackendConfig",
        "url": url,
    }
    dataset = fo.load_dataset(dataset_name)
    dataset.annotate(anno_key, backend="picsellia", label_schema=json.loads(schema), **json.loads(options))


if __name__ == "__main__":
    main(*sys.argv[1:6])
