"""FiftyOne annotation backends for Label Studio, Kili-style and
FastLabel-style services.

Register a backend in ``~/.fiftyone/annotation_config.json``::

    {"backends": {"labelstudio": {
        "config_cls": "fo_annotation_backends.labelstudio.LabelStudioBackendConfig",
        "url": "http://localhost:8080"}}}

then ``view.annotate("run1", backend="labelstudio", label_schema=...)`` and
``dataset.load_annotations("run1")``.
"""

import logging

__version__ = "0.1.0"

# quiet by default: applications decide where our records go
logging.getLogger(__name__).addHandler(logging.NullHandler())
