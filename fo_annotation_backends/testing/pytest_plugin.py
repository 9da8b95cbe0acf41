"""pytest plugin of fo-annotation-backends (registered as a ``pytest11``
entry point, so it is active wherever the package is installed).

Fixtures:

- ``kili_emulator``: a started :class:`~fo_annotation_backends.testing.kili.KiliEmulator`
  with a random API key (``kili_emulator.url``, ``kili_emulator.api_key``),
  stopped after the test
- ``kili_emulator_session``: one emulator for the whole session; its state
  carries over between tests (``.clear()`` forgets every project, and
  ``.reset_faults()`` / ``.reset_stats()`` reset the instruments)

Importing this module is cheap: the emulator (and graphql-core) is imported
when a fixture is first used.
"""

import secrets

import pytest


def _start_kili_emulator():
    from fo_annotation_backends.testing.kili import KiliEmulator

    return KiliEmulator(api_key="test-" + secrets.token_hex(12)).start()


@pytest.fixture
def kili_emulator():
    """A Kili emulator on 127.0.0.1 with a random API key, for one test."""
    emulator = _start_kili_emulator()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture(scope="session")
def kili_emulator_session():
    """A Kili emulator shared by every test of the session."""
    emulator = _start_kili_emulator()
    try:
        yield emulator
    finally:
        emulator.stop()
