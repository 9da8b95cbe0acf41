"""HttpSession against a real local HTTP server with scripted answers."""

import logging
import random

import pytest
from scripted_http import Apply, Drop, Respond

from fo_annotation_backends.core.errors import (
    AuthenticationError,
    OutcomeUnknownError,
    ServiceError,
    ServiceUnavailableError,
)
from fo_annotation_backends.core.http import HttpSession, RetryPolicy
from fo_annotation_backends.core.pacing import Pacer
from fo_annotation_backends.core.secrets import register_secret


def fast_retry(max_retries=3):
    """Deterministic backoffs: 0.01, 0.02, 0.04, ..."""
    return RetryPolicy(max_retries=max_retries, backoff_factor=0.01, backoff_max=1.0, jitter=0.0)


@pytest.fixture
def make_session(fake_sleep):
    sessions = []

    def make(url, **kwargs):
        kwargs.setdefault("retry", fast_retry())
        kwargs.setdefault("timeout", (2, 5))
        session = HttpSession(url, sleep=fake_sleep, **kwargs)
        sessions.append(session)
        return session

    yield make
    for session in sessions:
        session.close()


# --------------------------------------------------------------------------
# retries of idempotent requests
# --------------------------------------------------------------------------


def test_429_honours_retry_after_then_succeeds(http_server, make_session, fake_sleep):
    http_server.script("/limited", Respond(429, headers={"Retry-After": "1"}), Respond(200, json_body={"ok": 1}))
    session = make_session(http_server.url)

    response = session.request("GET", "/limited")

    assert response.status_code == 200
    assert response.json() == {"ok": 1}
    assert fake_sleep.calls == [pytest.approx(1.0)]
    assert session.request_count == 2
    assert http_server.count("GET", "/limited") == 2


def test_retry_after_is_capped_by_max_retry_after(http_server, make_session, fake_sleep):
    http_server.script("/limited", Respond(429, headers={"Retry-After": "3600"}), Respond(200))
    retry = RetryPolicy(max_retries=2, backoff_factor=0.01, jitter=0.0, max_retry_after=5.0)
    session = make_session(http_server.url, retry=retry)

    assert session.request("GET", "/limited").status_code == 200
    assert fake_sleep.calls == [pytest.approx(5.0)]


def test_get_503_twice_then_200_is_retried_with_growing_backoff(http_server, make_session, fake_sleep):
    http_server.script("/flaky", Respond(503), Respond(503), Respond(200, json_body=[1, 2]))
    session = make_session(http_server.url)

    assert session.get_json("/flaky") == [1, 2]
    assert http_server.count("GET", "/flaky") == 3
    assert session.request_count == 3
    assert fake_sleep.calls == [pytest.approx(0.01), pytest.approx(0.02)]


def test_get_dropped_connection_is_retried(http_server, make_session, fake_sleep):
    http_server.script("/drop", Drop(), Respond(200, json_body={"after": "drop"}))
    session = make_session(http_server.url)

    assert session.get_json("/drop") == {"after": "drop"}
    assert http_server.count("GET", "/drop") == 2
    assert len(fake_sleep.calls) == 1


def test_retries_run_out_on_status_raises_service_error_mentioning_retries(http_server, make_session, fake_sleep):
    http_server.script("/down", Respond(503, json_body={"detail": "maintenance"}))
    session = make_session(http_server.url, retry=fast_retry(max_retries=2))

    with pytest.raises(ServiceError) as info:
        session.request("GET", "/down")

    assert info.value.status_code == 503
    assert "after 2 retries" in str(info.value)
    assert "maintenance" in str(info.value)
    assert http_server.count("GET", "/down") == 3
    assert len(fake_sleep.calls) == 2


def test_retries_run_out_on_dropped_connections_raises_service_unavailable(http_server, make_session, fake_sleep):
    http_server.script("/gone", Drop())
    session = make_session(http_server.url, retry=fast_retry(max_retries=2))

    with pytest.raises(ServiceUnavailableError) as info:
        session.request("GET", "/gone")

    assert "after 3 attempts" in str(info.value)
    assert http_server.count("GET", "/gone") == 3


def test_connection_refused_raises_service_unavailable(closed_port, make_session, fake_sleep):
    session = make_session("http://127.0.0.1:%d" % closed_port, retry=fast_retry(max_retries=2))

    with pytest.raises(ServiceUnavailableError) as info:
        session.request("GET", "/anything")

    assert "127.0.0.1:%d" % closed_port in str(info.value)
    assert "after 3 attempts" in str(info.value)
    assert session.request_count == 3


def test_refused_connection_is_retried_even_for_post(closed_port, make_session, fake_sleep):
    # nothing was sent, so re-sending a create is safe: no OutcomeUnknownError
    session = make_session("http://127.0.0.1:%d" % closed_port, retry=fast_retry(max_retries=1))

    with pytest.raises(ServiceUnavailableError):
        session.request("POST", "/create", json={"a": 1})

    assert session.request_count == 2


def test_connect_timeout_is_retried_even_for_post(unresponsive_port, make_session, fake_sleep):
    # a connection that was never established sent nothing: safe to re-send
    session = make_session("http://127.0.0.1:%d" % unresponsive_port, timeout=(0.2, 5), retry=fast_retry(max_retries=1))

    with pytest.raises(ServiceUnavailableError, match="after 2 attempts"):
        session.request("POST", "/create", json={"a": 1})

    assert session.request_count == 2
    assert len(fake_sleep.calls) == 1


def test_get_read_timeout_is_retried(http_server, make_session):
    http_server.script("/slow", Respond(200, delay=1.0), Respond(200, json_body={"fast": True}))
    session = make_session(http_server.url, timeout=(2, 0.2))

    assert session.get_json("/slow") == {"fast": True}
    assert http_server.count("GET", "/slow") == 2


def test_post_read_timeout_raises_outcome_unknown_and_is_not_resent(http_server, make_session):
    http_server.script("/create", Apply(201, delay=1.0), Apply(201))
    session = make_session(http_server.url, timeout=(2, 0.2))

    with pytest.raises(OutcomeUnknownError, match="ReadTimeout"):
        session.request("POST", "/create", json={"a": 1})

    assert http_server.count("POST", "/create") == 1


def test_pacer_applies_to_every_attempt(http_server, make_session):
    http_server.script("/flaky", Respond(503), Respond(200))
    clock = [0.0]
    pacer_sleeps = []

    def pacer_sleep(seconds):
        pacer_sleeps.append(seconds)
        clock[0] += seconds

    pacer = Pacer(max_calls=1, window_seconds=10.0, clock=lambda: clock[0], sleep=pacer_sleep)
    session = make_session(http_server.url, pacer=pacer)

    assert session.request("GET", "/flaky").status_code == 200
    assert pacer_sleeps == [pytest.approx(10.0)]


def test_stream_body_is_rewound_before_a_retry(http_server, make_session):
    class Body:
        """A minimal seekable file-like body."""

        def __init__(self, data):
            self.data = data
            self.pos = 0

        def __len__(self):
            return len(self.data)

        def read(self, size=-1):
            size = len(self.data) if size is None or size < 0 else size
            chunk = self.data[self.pos : self.pos + size]
            self.pos += len(chunk)
            return chunk

        def seek(self, offset, whence=0):
            self.pos = offset
            return offset

        def tell(self):
            return self.pos

    http_server.script("/put", Respond(503), Respond(200))
    session = make_session(http_server.url)

    session.request("PUT", "/put", data=Body(b"payload" * 1000))

    bodies = [r.body for r in http_server.requests if r.path == "/put"]
    assert bodies == [b"payload" * 1000] * 2


# --------------------------------------------------------------------------
# non-idempotent requests and creates
# --------------------------------------------------------------------------


def test_post_503_raises_outcome_unknown_and_is_not_resent(http_server, make_session, fake_sleep):
    http_server.script("/create", Respond(503))
    session = make_session(http_server.url)

    with pytest.raises(OutcomeUnknownError):
        session.request("POST", "/create", json={"name": "x"})

    assert http_server.count("POST", "/create") == 1
    assert fake_sleep.calls == []


def test_post_dropped_raises_outcome_unknown_and_is_not_resent(http_server, make_session):
    http_server.script("/create", Drop())
    session = make_session(http_server.url)

    with pytest.raises(OutcomeUnknownError):
        session.request("POST", "/create", json={"name": "x"})

    assert http_server.count("POST", "/create") == 1


def test_post_429_is_resent_because_the_server_refused_it(http_server, make_session, fake_sleep):
    http_server.script("/create", Respond(429, headers={"Retry-After": "1"}), Apply(201, json_body={"id": 1}))
    session = make_session(http_server.url)

    response = session.request("POST", "/create", json={"name": "x"})

    assert response.status_code == 201
    assert http_server.count("POST", "/create") == 2
    assert len(http_server.applied) == 1


def test_create_whose_answer_was_lost_returns_find_existing(http_server, make_session):
    http_server.script("/projects", Drop(apply=True), Apply(201, json_body={"id": "duplicate"}))
    session = make_session(http_server.url)
    checks = []

    def find_existing():
        checks.append(len(http_server.applied))
        return {"id": "found"} if http_server.applied else None

    result = session.create("POST", "/projects", find_existing, json={"title": "t"})

    assert result == {"id": "found"}
    assert checks == [1]
    assert http_server.count("POST", "/projects") == 1
    assert len(http_server.applied) == 1


def test_create_not_applied_before_the_drop_is_sent_again_once(http_server, make_session):
    http_server.script("/projects", Drop(apply=False), Apply(201, json_body={"id": 7}))
    session = make_session(http_server.url)
    checks = []

    def find_existing():
        checks.append(len(http_server.applied))
        return {"id": "found"} if http_server.applied else None

    result = session.create("POST", "/projects", find_existing, json={"title": "t"})

    assert result.status_code == 201
    assert result.json() == {"id": 7}
    assert checks == [0]
    assert http_server.count("POST", "/projects") == 2
    assert len(http_server.applied) == 1
    assert http_server.requests[0].body == http_server.requests[1].body


def test_create_gives_up_after_max_checks(http_server, make_session):
    http_server.script("/projects", Drop())
    session = make_session(http_server.url)
    checks = []

    with pytest.raises(OutcomeUnknownError):
        session.create("POST", "/projects", lambda: checks.append(1), max_checks=2, json={})

    assert len(checks) == 2
    assert http_server.count("POST", "/projects") == 3


def test_create_waits_a_growing_backoff_before_each_check_and_logs_each(http_server, make_session, fake_sleep, caplog):
    caplog.set_level(logging.INFO, logger="fo_annotation_backends.core.http")
    http_server.script("/projects", Drop(), Respond(502), Apply(201, json_body={"id": 3}))
    session = make_session(http_server.url)

    result = session.create("POST", "/projects", lambda: None, json={})

    assert result.json() == {"id": 3}
    assert fake_sleep.calls == [pytest.approx(0.01), pytest.approx(0.02)]  # fast_retry's backoffs
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert "got no answer" in lines[0] and "check 1 of 3 for POST /projects" in lines[0]
    assert "answered 502" in lines[1] and "check 2 of 3 for POST /projects" in lines[1]
    assert all("does not have it, sending it again" in line for line in lines)


# --------------------------------------------------------------------------
# error statuses
# --------------------------------------------------------------------------


def test_401_raises_authentication_error_without_retry(http_server, make_session, fake_sleep):
    http_server.script("/me", Respond(401, json_body={"detail": "Invalid token."}))
    session = make_session(http_server.url)

    with pytest.raises(AuthenticationError) as info:
        session.request("GET", "/me")

    assert "401" in str(info.value)
    assert "Invalid token." in str(info.value)
    assert http_server.count() == 1
    assert fake_sleep.calls == []


def test_403_raises_authentication_error(http_server, make_session):
    http_server.script("/me", Respond(403, json_body={"detail": "forbidden"}))
    session = make_session(http_server.url)

    with pytest.raises(AuthenticationError):
        session.request("GET", "/me")


def test_404_raises_service_error_with_detail_and_status(http_server, make_session, fake_sleep):
    http_server.script("/api/things/3", Respond(404, json_body={"detail": "nope"}))
    session = make_session(http_server.url)

    with pytest.raises(ServiceError) as info:
        session.request("GET", "/api/things/3?x=1")

    error = info.value
    assert "nope" in str(error)
    assert error.status_code == 404
    assert error.method == "GET"
    assert error.path == "/api/things/3"
    assert not isinstance(error, AuthenticationError)
    assert http_server.count() == 1
    assert fake_sleep.calls == []


def test_ok_statuses_are_returned_not_raised(http_server, make_session):
    http_server.script("/maybe", Respond(404, json_body={"detail": "nope"}))
    session = make_session(http_server.url)

    assert session.request("GET", "/maybe", ok_statuses={404}).status_code == 404


def test_validation_errors_are_included_in_the_message(http_server, make_session):
    body = {"detail": "Validation error", "validation_errors": {"title": ["too long"]}}
    http_server.script("/projects", Respond(400, json_body=body))
    session = make_session(http_server.url)

    with pytest.raises(ServiceError) as info:
        session.request("POST", "/projects", json={})

    assert "too long" in str(info.value)
    assert info.value.status_code == 400


def test_html_error_page_is_not_pasted_into_the_message(http_server, make_session):
    page = b"<!DOCTYPE html><html><body>" + b"x" * 5000 + b"</body></html>"
    http_server.script("/boom", Respond(500, body=page, headers={"Content-Type": "text/html"}))
    session = make_session(http_server.url)

    with pytest.raises(ServiceError) as info:
        session.request("GET", "/boom")

    assert info.value.status_code == 500
    assert "<html" not in str(info.value)
    assert len(str(info.value)) < 200


def test_error_message_from_server_is_redacted(http_server, make_session):
    token = "tok-%032x" % random.getrandbits(128)
    register_secret(token)
    http_server.script("/echo", Respond(400, json_body={"detail": "bad header Authorization: Token %s" % token}))
    session = make_session(http_server.url, headers={"Authorization": "Token %s" % token})

    with pytest.raises(ServiceError) as info:
        session.request("GET", "/echo")

    assert http_server.requests[0].headers["Authorization"] == "Token %s" % token
    assert token not in str(info.value)
    assert "***" in str(info.value)


def test_url_resolution(make_session):
    session = make_session("http://example.invalid/base")
    assert session.url("/api/projects") == "http://example.invalid/base/api/projects"
    assert session.url("api/projects") == "http://example.invalid/base/api/projects"
    assert session.url("https://other.invalid/x") == "https://other.invalid/x"


# --------------------------------------------------------------------------
# RetryPolicy
# --------------------------------------------------------------------------


def test_backoff_grows_exponentially_without_jitter():
    policy = RetryPolicy(backoff_factor=0.5, backoff_max=100.0, jitter=0.0)
    assert [policy.backoff(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, 8.0]


def test_backoff_is_capped_at_backoff_max():
    policy = RetryPolicy(backoff_factor=0.5, backoff_max=3.0, jitter=0.0)
    assert [policy.backoff(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]
    assert policy.backoff(60) == 3.0


def test_backoff_jitter_stays_within_bounds_and_spreads():
    policy = RetryPolicy(backoff_factor=1.0, backoff_max=4.0, jitter=0.5)
    for attempt, base in ((1, 1.0), (2, 2.0), (3, 4.0), (8, 4.0)):
        samples = [policy.backoff(attempt) for _ in range(2000)]
        assert all(0.5 * base <= s <= 1.5 * base for s in samples)
        # the jitter is really random, and covers most of its range
        assert min(samples) < 0.6 * base
        assert max(samples) > 1.4 * base


def test_delay_for_without_response_is_the_backoff():
    policy = RetryPolicy(backoff_factor=0.25, jitter=0.0)
    assert policy.delay_for(3) == 1.0
