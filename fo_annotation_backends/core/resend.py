"""After a lost answer: ask the server what it has, re-send only the rest.

A create (or any request that is not safe to repeat) whose answer is lost (no
answer, a connection reset after sending, a 502/503/504) may or may not have
been applied: :class:`~.errors.OutcomeUnknownError`. Sending it again blindly
could create twice; not sending it could lose it. The loop here resolves it:
wait a moment (the server may still be applying it), ask the server what it
has, and send again only what it does not have.

- :func:`send_until_applied` for a batch (assets, labels, tasks): the items
  the server has are left out of the next attempt;
- :func:`send_or_find` for one object (a project, a class, a task): when the
  server has it, what the check found is returned instead.

Each check writes one INFO log line saying what it found. The checks are
bounded: when the attempt after the last check has an unknown outcome too,
its :class:`~.errors.OutcomeUnknownError` is raised.
"""

import logging
from collections.abc import Callable, Container, Sequence
from typing import TypeVar

from .errors import OutcomeUnknownError
from .secrets import get_logger

logger = get_logger(__name__)

Item = TypeVar("Item")
Key = TypeVar("Key")
Result = TypeVar("Result")
Found = TypeVar("Found")

#: called with the check number (1 for the first) before each check
Wait = Callable[[int], None]


class _AllApplied:
    """What a batch check returns when the server has every item."""


_ALL_APPLIED = _AllApplied()


def send_until_applied(
    send: Callable[[list[Item]], Result],
    pending: Sequence[Item],
    present: Callable[[list[Item]], Container[Key]],
    key: Callable[[Item], Key],
    *,
    checks: int,
    wait: Wait,
    what: str = "the batch",
    log: logging.Logger = logger,
) -> Result | None:
    """Sends a batch; after each lost answer, re-sends only the items the
    server does not have.

    Args:
        send: sends one request carrying the given items (the first time,
            all of ``pending``); raises :class:`OutcomeUnknownError` when the
            answer is lost
        pending: the items to send
        present: asks the server which of the given items it has; returns
            their keys (a set, or a dict keyed by them)
        key: the key of an item, as ``present`` returns it
        checks: the most lost answers resolved this way
        wait: sleeps before a check (given its number, 1 for the first)
        what: names the batch in the log lines (e.g. ``"appendManyAssets"``)
        log: the logger of the log lines (the caller's)

    Returns:
        what the last ``send`` returned, or ``None`` when a check found every
        item on the server

    Raises:
        OutcomeUnknownError: the answer after the last check was lost too
    """
    items = list(pending)

    def check(error: OutcomeUnknownError, number: int) -> _AllApplied | None:
        nonlocal items
        have = present(items)
        missing = [item for item in items if key(item) not in have]
        log.info(
            "%s; check %d of %d for %s: the server has %d of the %d items, %d still to send",
            error,
            number,
            checks,
            what,
            len(items) - len(missing),
            len(items),
            len(missing),
        )
        items = missing
        return None if missing else _ALL_APPLIED

    result = _until_applied(lambda: send(items), check, checks, wait, what, log)
    return None if isinstance(result, _AllApplied) else result


def send_or_find(
    send: Callable[[], Result],
    find_applied: Callable[[], Found | None],
    *,
    checks: int,
    wait: Wait,
    what: str = "the request",
    log: logging.Logger = logger,
) -> Result | Found:
    """Sends one request; after each lost answer, asks the server whether it
    applied it, and sends it again only if not.

    Args:
        send: sends the request; raises :class:`OutcomeUnknownError` when the
            answer is lost
        find_applied: looks on the server for what the request makes (e.g.
            the project it creates); returns it, or ``None`` when the server
            does not have it
        checks: the most lost answers resolved this way
        wait: sleeps before a check (given its number, 1 for the first)
        what: names the request in the log lines (e.g. ``"project 'x'"``)
        log: the logger of the log lines (the caller's)

    Returns:
        what ``send`` returned, or what ``find_applied`` found

    Raises:
        OutcomeUnknownError: the answer after the last check was lost too
    """

    def check(error: OutcomeUnknownError, number: int) -> Found | None:
        found = find_applied()
        log.info(
            "%s; check %d of %d for %s: the server %s",
            error,
            number,
            checks,
            what,
            "does not have it, sending it again" if found is None else "has it, not sending it again",
        )
        return found

    return _until_applied(send, check, checks, wait, what, log)


def _until_applied(
    send: Callable[[], Result],
    check: Callable[[OutcomeUnknownError, int], Found | None],
    checks: int,
    wait: Wait,
    what: str,
    log: logging.Logger,
) -> Result | Found:
    """The loop of both forms: ``send()`` until it is answered or a check
    (after ``wait``) returns what settles it."""
    number = 0
    while True:
        try:
            return send()
        except OutcomeUnknownError as error:
            if number >= checks:
                if checks:
                    log.info("%s; still unknown after %d checks for %s: giving up", error, checks, what)
                raise
            number += 1
            wait(number)
            settled = check(error, number)
            if settled is not None:
                return settled
