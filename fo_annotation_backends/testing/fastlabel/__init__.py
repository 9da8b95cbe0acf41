"""A local emulator of FastLabel's REST API (``/v1/``), for testing
pipelines offline, with fault injection and a call budget.

In Python::

    from fo_annotation_backends.testing.fastlabel import FastLabelEmulator

    with FastLabelEmulator(api_key="local-key", faults={"rate_limit": 0.05}) as fastlabel:
        ...  # FASTLABEL_API_URL=fastlabel.url, FASTLABEL_ACCESS_TOKEN=local-key

From a shell (the base URL, ending in ``/v1/``, alone on the first line)::

    python -m fo_annotation_backends.testing.fastlabel --port 0 --api-key local-key

In pytest, the ``fastlabel_emulator`` fixture (this package's pytest plugin)
gives a started emulator with a random key. The endpoints and the semantics
the emulator chose are listed in :mod:`.server`.
"""

from .server import FastLabelEmulator

__all__ = ["FastLabelEmulator"]
