"""pytest plugin of fo-annotation-backends (registered as a ``pytest11``
entry point, so it is active wherever the package is installed).

Fixtures:

- ``kili_emulator``: a started :class:`~fo_annotation_backends.testing.kili.KiliEmulator`
  with a random API key (``kili_emulator.url``, ``kili_emulator.api_key``),
  stopped after the test
- ``kili_emulator_session``: one emulator for the whole session; its state
  carries over between tests (``.clear()`` forgets every project, and
  ``.reset_faults()`` / ``.reset_stats()`` reset the instruments)
- ``fastlabel_emulator``: a started
  :class:`~fo_annotation_backends.testing.fastlabel.FastLabelEmulator` with a
  random API key (``fastlabel_emulator.url`` ends in ``/v1/``), with
  FastLabel's call budget (10,000 calls per 600 s), stopped after the test
- ``fastlabel_emulator_session``: one FastLabel emulator for the whole
  session, without a call budget (a long session would spend it; set one
  with ``.set_faults(max_calls=...)``); ``.clear()`` forgets every project
- ``picsellia_emulator``: a started
  :class:`~fo_annotation_backends.testing.picsellia.PicselliaEmulator` with a
  random API key (``picsellia_emulator.url`` is the SDK's ``host``), stopped
  after the test

Importing this module is cheap: the emulators (and graphql-core) are
imported when a fixture is first used.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from fo_annotation_backends.testing.fastlabel import FastLabelEmulator
    from fo_annotation_backends.testing.kili import KiliEmulator
    from fo_annotation_backends.testing.picsellia import PicselliaEmulator


def _start_kili_emulator() -> KiliEmulator:
    from fo_annotation_backends.testing.kili import KiliEmulator

    return KiliEmulator(api_key="test-" + secrets.token_hex(12)).start()


@pytest.fixture
def kili_emulator() -> Iterator[KiliEmulator]:
    """A Kili emulator on 127.0.0.1 with a random API key, for one test."""
    emulator = _start_kili_emulator()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture(scope="session")
def kili_emulator_session() -> Iterator[KiliEmulator]:
    """A Kili emulator shared by every test of the session."""
    emulator = _start_kili_emulator()
    try:
        yield emulator
    finally:
        emulator.stop()


def _start_fastlabel_emulator(**kwargs: Any) -> FastLabelEmulator:
    from fo_annotation_backends.testing.fastlabel import FastLabelEmulator

    return FastLabelEmulator(api_key="test-" + secrets.token_hex(12), **kwargs).start()


@pytest.fixture
def fastlabel_emulator() -> Iterator[FastLabelEmulator]:
    """A FastLabel emulator on 127.0.0.1 with a random API key, for one test."""
    emulator = _start_fastlabel_emulator()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture(scope="session")
def fastlabel_emulator_session() -> Iterator[FastLabelEmulator]:
    """A FastLabel emulator shared by every test of the session (no call
    budget)."""
    emulator = _start_fastlabel_emulator(max_calls=None)
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def picsellia_emulator() -> Iterator[PicselliaEmulator]:
    """A Picsellia emulator on 127.0.0.1 with a random API key, for one test."""
    from fo_annotation_backends.testing.picsellia import PicselliaEmulator

    emulator = PicselliaEmulator(api_key="test-" + secrets.token_hex(12)).start()
    try:
        yield emulator
    finally:
        emulator.stop()
