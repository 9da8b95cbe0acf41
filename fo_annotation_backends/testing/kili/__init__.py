"""A local emulator of Kili's API (GraphQL, upload bucket), for testing
pipelines offline, with fault injection and a call budget.

In Python::

    from fo_annotation_backends.testing.kili import KiliEmulator

    with KiliEmulator(api_key="local-key", faults={"rate_limit": 0.05}) as kili:
        ...  # point a client at kili.url with the key "local-key"

From a shell (the GraphQL URL alone on the first line)::

    python -m fo_annotation_backends.testing.kili --port 0 --api-key local-key

In pytest, the ``kili_emulator`` fixture (this package's pytest plugin) gives
a started emulator with a random key.
"""

from .server import KiliEmulator

__all__ = ["KiliEmulator"]
