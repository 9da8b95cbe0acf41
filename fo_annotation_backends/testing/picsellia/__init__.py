"""A local emulator of Picsellia's REST API (``/api/``), for testing
pipelines offline, with fault injection and an optional call budget.

In Python::

    from fo_annotation_backends.testing.picsellia import PicselliaEmulator

    with PicselliaEmulator(api_key="local-key") as picsellia:
        ...  # host=picsellia.url, api_token="local-key"

From a shell (the base URL alone on the first line)::

    python -m fo_annotation_backends.testing.picsellia --port 0 --api-key local-key

In pytest, the ``picsellia_emulator`` fixture (this package's pytest plugin)
gives a started emulator with a random key. The endpoints and the semantics
the emulator chose are listed in :mod:`.server`.
"""

from .server import PicselliaEmulator

__all__ = ["PicselliaEmulator"]
