"""FiftyOne annotation backends for Label Studio, Kili-style and
FastLabel-style services.

Register the backends in ``~/.fiftyone/annotation_config.json``::

    {"backends": {
        "labelstudio": {"config_cls": "fo_annotation_backends.labelstudio.LabelStudioBackendConfig",
                        "url": "http://localhost:8080"},
        "kili": {"config_cls": "fo_annotation_backends.kili.KiliBackendConfig"},
        "fastlabel": {"config_cls": "fo_annotation_backends.fastlabel.FastLabelBackendConfig"}}}

(keys in ``FIFTYONE_<BACKEND>_API_KEY``), then
``view.annotate("run1", backend="kili", label_schema=...)`` and
``dataset.load_annotations("run1")``.
"""

import logging

__version__ = "0.1.0"

# quiet by default: applications decide where our records go
logging.getLogger(__name__).addHandler(logging.NullHandler())
