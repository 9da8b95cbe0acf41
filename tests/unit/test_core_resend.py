"""The lost-answer loop (core.resend) against a small in-memory server whose
answers are lost as scripted: a batch lost once, twice, every time; a partial
application; a single create found by the check."""

import logging

import pytest

from fo_annotation_backends.core.errors import OutcomeUnknownError, ServiceError
from fo_annotation_backends.core.resend import send_or_find, send_until_applied


class Server:
    """Keeps what it was sent; each entry of ``fates`` decides one request:
    ``"ok"`` (applied and answered), ``"lost"`` (applied, answer lost),
    ``"refused"`` (not applied, answer lost) or an int ``n`` (the first
    ``n`` items applied, answer lost). Past the script: ``"ok"``."""

    def __init__(self, *fates):
        self.fates = list(fates)
        self.items = {}
        self.sent = []  # the items of every request
        self.checked = []  # the items of every check

    def send(self, items):
        self.sent.append(list(items))
        fate = self.fates.pop(0) if self.fates else "ok"
        if fate == "refused":
            applied = []
        elif isinstance(fate, int):
            applied = items[:fate]
        else:
            applied = items
        for item in applied:
            self.items[item["id"]] = item
        if fate != "ok":
            raise OutcomeUnknownError("POST /items got no answer (ConnectionError); the server may have applied it")
        return {"created": [item["id"] for item in items]}

    def present(self, items):
        self.checked.append([item["id"] for item in items])
        return {item["id"]: self.items[item["id"]] for item in items if item["id"] in self.items}


class Waits:
    def __init__(self):
        self.calls = []

    def __call__(self, check):
        self.calls.append(check)


def items(n):
    return [{"id": "i%d" % i, "n": i} for i in range(n)]


def ids(batch):
    return [item["id"] for item in batch]


def send_batch(server, batch, checks=3, wait=None):
    return send_until_applied(
        server.send,
        batch,
        server.present,
        lambda item: item["id"],
        checks=checks,
        wait=wait or Waits(),
        what="the items",
    )


# --------------------------------------------------------------------------
# batches
# --------------------------------------------------------------------------


def test_a_batch_answered_is_sent_once_and_never_checked():
    server = Server()
    waits = Waits()

    result = send_batch(server, items(3), wait=waits)

    assert result == {"created": ["i0", "i1", "i2"]}
    assert [ids(sent) for sent in server.sent] == [["i0", "i1", "i2"]]
    assert server.checked == []
    assert waits.calls == []


def test_a_batch_applied_but_its_answer_lost_once_is_not_sent_again(caplog):
    caplog.set_level(logging.INFO)
    server = Server("lost")
    waits = Waits()

    result = send_batch(server, items(3), wait=waits)

    assert result is None  # the check found every item
    assert len(server.sent) == 1
    assert server.checked == [["i0", "i1", "i2"]]
    assert waits.calls == [1]
    (line,) = [r.getMessage() for r in caplog.records]
    assert "got no answer" in line
    assert "check 1 of 3 for the items" in line
    assert "the server has 3 of the 3 items, 0 still to send" in line


def test_a_batch_not_applied_is_sent_again_in_full():
    server = Server("refused")

    result = send_batch(server, items(3))

    assert result == {"created": ["i0", "i1", "i2"]}
    assert [ids(sent) for sent in server.sent] == [["i0", "i1", "i2"]] * 2
    assert server.sent[1] == items(3)  # the items as they were given
    assert list(server.items) == ["i0", "i1", "i2"]


def test_a_partly_applied_batch_resends_only_the_missing_items_in_order(caplog):
    caplog.set_level(logging.INFO)
    server = Server(2)

    result = send_batch(server, items(5))

    assert result == {"created": ["i2", "i3", "i4"]}
    assert [ids(sent) for sent in server.sent] == [["i0", "i1", "i2", "i3", "i4"], ["i2", "i3", "i4"]]
    assert list(server.items) == ["i0", "i1", "i2", "i3", "i4"]
    assert "the server has 2 of the 5 items, 3 still to send" in caplog.text


def test_a_batch_lost_twice_checks_only_what_is_still_pending():
    server = Server(2, 1)
    waits = Waits()

    result = send_batch(server, items(6), wait=waits)

    assert result == {"created": ["i3", "i4", "i5"]}
    assert [ids(sent) for sent in server.sent] == [ids(items(6)), ["i2", "i3", "i4", "i5"], ["i3", "i4", "i5"]]
    assert server.checked == [ids(items(6)), ["i2", "i3", "i4", "i5"]]
    assert waits.calls == [1, 2]
    assert list(server.items) == ids(items(6))


def test_a_batch_lost_twice_then_found_in_full_stops_checking():
    server = Server("refused", "lost")

    assert send_batch(server, items(2)) is None
    assert len(server.sent) == 2
    assert len(server.checked) == 2


def test_a_batch_whose_answer_is_lost_every_time_raises_after_the_last_check(caplog):
    caplog.set_level(logging.INFO)
    server = Server(*["refused"] * 10)
    waits = Waits()

    with pytest.raises(OutcomeUnknownError, match="may have applied it"):
        send_batch(server, items(2), checks=3, wait=waits)

    assert len(server.sent) == 4  # the first attempt and one after each check
    assert len(server.checked) == 3
    assert waits.calls == [1, 2, 3]
    assert server.items == {}
    assert "still unknown after 3 checks for the items" in caplog.records[-1].getMessage()


def test_no_checks_raises_the_first_unknown_outcome_without_asking():
    server = Server("lost")

    with pytest.raises(OutcomeUnknownError):
        send_batch(server, items(1), checks=0)

    assert len(server.sent) == 1
    assert server.checked == []


def test_other_errors_are_raised_without_checks():
    def send(batch):
        raise ServiceError("POST /items failed (400): bad item", status_code=400)

    waits = Waits()
    with pytest.raises(ServiceError, match="bad item"):
        send_until_applied(send, items(2), lambda batch: set(), lambda item: item["id"], checks=3, wait=waits)
    assert waits.calls == []


def test_present_may_answer_a_set_of_keys():
    server = Server(1)
    checked = []

    def present(batch):
        checked.append(ids(batch))
        return set(server.items)

    send_until_applied(server.send, items(3), present, lambda item: item["id"], checks=1, wait=Waits())

    assert [ids(sent) for sent in server.sent] == [["i0", "i1", "i2"], ["i1", "i2"]]
    assert checked == [["i0", "i1", "i2"]]


def test_the_callers_logger_writes_the_lines(caplog):
    caplog.set_level(logging.INFO)
    log = logging.getLogger("fo_annotation_backends.tests.resend")

    send_until_applied(
        Server("lost").send, items(1), lambda batch: {"i0"}, lambda item: item["id"], checks=1, wait=Waits(), log=log
    )

    assert [r.name for r in caplog.records] == [log.name]


# --------------------------------------------------------------------------
# one object
# --------------------------------------------------------------------------


class Creates:
    """A create endpoint: ``fates`` as for :class:`Server` (without ints)."""

    def __init__(self, *fates):
        self.server = Server(*fates)
        self.checks = 0

    def send(self):
        return self.server.send([{"id": "p1"}])

    def find(self):
        self.checks += 1
        found = self.server.items.get("p1")
        return {"id": found["id"], "found": True} if found else None


def test_a_create_found_by_the_check_returns_what_was_found(caplog):
    caplog.set_level(logging.INFO)
    creates = Creates("lost")
    waits = Waits()

    result = send_or_find(creates.send, creates.find, checks=3, wait=waits, what="project 'p'")

    assert result == {"id": "p1", "found": True}
    assert len(creates.server.sent) == 1
    assert creates.checks == 1
    assert waits.calls == [1]
    (line,) = [r.getMessage() for r in caplog.records]
    assert "check 1 of 3 for project 'p': the server has it, not sending it again" in line


def test_a_create_not_found_by_the_check_is_sent_again_once(caplog):
    caplog.set_level(logging.INFO)
    creates = Creates("refused")

    result = send_or_find(creates.send, creates.find, checks=3, wait=Waits())

    assert result == {"created": ["p1"]}
    assert len(creates.server.sent) == 2
    assert creates.checks == 1
    assert "the server does not have it, sending it again" in caplog.text


def test_a_create_lost_twice_is_found_by_the_second_check():
    creates = Creates("refused", "lost")
    waits = Waits()

    result = send_or_find(creates.send, creates.find, checks=3, wait=waits)

    assert result == {"id": "p1", "found": True}
    assert len(creates.server.sent) == 2
    assert waits.calls == [1, 2]


def test_a_create_lost_every_time_raises_after_max_checks():
    creates = Creates(*["refused"] * 10)
    waits = Waits()

    with pytest.raises(OutcomeUnknownError):
        send_or_find(creates.send, creates.find, checks=2, wait=waits)

    assert len(creates.server.sent) == 3
    assert creates.checks == 2
    assert waits.calls == [1, 2]


def test_an_error_raised_by_the_check_is_raised_as_it_is():
    def find():
        raise ServiceError("part of the import was applied")

    with pytest.raises(ServiceError, match="part of the import"):
        send_or_find(Creates("lost").send, find, checks=3, wait=Waits())
