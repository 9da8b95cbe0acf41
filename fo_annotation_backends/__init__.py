"""FiftyOne annotation backends for labeling services (the services are
listed in :mod:`fo_annotation_backends.registry`).

``fo-annotation-backends setup`` registers them in FiftyOne's annotation
config (``~/.fiftyone/annotation_config.json``), each as
``{"config_cls": "fo_annotation_backends.<service>.<Service>BackendConfig"}``
with its key in ``FIFTYONE_<BACKEND>_API_KEY``; then
``view.annotate("run1", backend="<service>", label_schema=...)`` and
``dataset.load_annotations("run1")``.
"""

import logging

__version__ = "0.1.0"

# quiet by default: applications decide where our records go
logging.getLogger(__name__).addHandler(logging.NullHandler())
