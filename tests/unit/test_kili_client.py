"""KiliClient against a real local HTTP server that speaks a little Kili
(``kili_fake_server.py``): the transport (JSON posts, the X-API-Key header,
aliases, GraphQL errors, a wrong endpoint, retries), pacing and counting,
construction and secrets."""

import contextlib
import json
import logging

import pytest
from kili_fake_server import (  # noqa: F401  (kili, make_client and client are fixtures)
    API_KEY,
    GRAPHQL_PATH,
    client,
    graphql_error,
    kili,
    make_client,
    new_assets,
    root_field,
)
from scripted_http import Apply, Drop, Respond

import fo_annotation_backends.kili.client as kili_client
from fo_annotation_backends.core.errors import (
    AuthenticationError,
    OutcomeUnknownError,
    ServiceError,
    ServiceUnavailableError,
)
from fo_annotation_backends.core.pacing import Pacer
from fo_annotation_backends.kili.client import KiliClient, KiliGraphQLError, expected_endpoint, project_url

# --------------------------------------------------------------------------
# the transport
# --------------------------------------------------------------------------


def test_every_call_is_a_json_post_with_the_x_api_key_authorization(kili, client):
    assert client.viewer() == {"id": "user-1", "email": "me@example.com"}

    (request,) = kili.requests
    assert request.method == "POST"
    assert request.path == GRAPHQL_PATH
    assert request.headers["Authorization"] == "X-API-Key: %s" % API_KEY
    assert request.headers["Content-Type"] == "application/json"
    body = json.loads(request.body)
    assert set(body) == {"query", "variables"}  # no operationName
    assert body["variables"] == {}
    assert root_field(body["query"]) == ("data", "viewer")


def test_query_returns_the_aliased_data(kili, client):
    data = {"urls": ["u1"], "other": 3}
    kili.fault("createUploadBucketSignedUrls", Respond(200, json_body={"data": data}))

    got = client.query(
        "query($filePaths: [String!]) { urls: createUploadBucketSignedUrls(filePaths: $filePaths) }",
        {"filePaths": ["p"]},
    )

    assert got == data
    assert kili.variables_of("createUploadBucketSignedUrls") == [{"filePaths": ["p"]}]


def test_null_data_is_an_empty_dict(kili, client):
    kili.fault("viewer", Respond(200, json_body={"data": None}))

    assert client.query("query { data: viewer { id email } }") == {}


@pytest.mark.parametrize("status", [200, 400])
def test_graphql_errors_raise_kili_graphql_error_with_message_and_reason(kili, client, status):
    kili.fault("viewer", Respond(status, json_body=graphql_error("Cannot do that", "projectNotFound")))

    with pytest.raises(KiliGraphQLError) as info:
        client.viewer()

    text = str(info.value)
    assert "Cannot do that" in text
    assert "projectNotFound" in text
    assert info.value.status_code == status
    assert isinstance(info.value, ServiceError)
    assert kili.count() == 1  # an error answer is not retried


def test_graphql_error_reason_already_in_the_message_is_not_repeated(kili, client):
    kili.fault("viewer", Respond(200, json_body=graphql_error("projectNotFound: no such project", "projectNotFound")))

    with pytest.raises(KiliGraphQLError) as info:
        client.viewer()

    assert str(info.value).count("projectNotFound") == 1


def test_graphql_errors_without_extensions_or_message(kili, client):
    kili.fault(
        "viewer", Respond(200, json_body={"errors": [{"path": ["data"]}]}), Respond(200, json_body={"errors": ["boom"]})
    )

    with pytest.raises(KiliGraphQLError, match="unknown error"):
        client.viewer()
    with pytest.raises(KiliGraphQLError, match="boom"):
        client.viewer()


def test_graphql_error_echoing_the_api_key_does_not_leak_it(kili, client):
    kili.fault("viewer", Respond(200, json_body=graphql_error("invalid key %s" % API_KEY, "key %s" % API_KEY)))

    with pytest.raises(KiliGraphQLError) as info:
        client.viewer()

    assert API_KEY not in str(info.value)
    assert API_KEY not in repr(info.value)
    assert "invalid key ***" in str(info.value)


@pytest.mark.parametrize("status", [401, 403])
def test_refused_key_raises_authentication_error_with_a_clear_message(kili, client, status):
    kili.fault("viewer", Respond(status, json_body=graphql_error("Invalid API key %s" % API_KEY, "invalidApiKey")))

    with pytest.raises(AuthenticationError) as info:
        client.viewer()

    text = str(info.value)
    assert API_KEY not in text
    assert "API key" in text
    assert "FIFTYONE_KILI_API_KEY" in text
    assert kili.graphql_url in text
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert kili.count() == 1  # never retried


@pytest.mark.parametrize(
    "answer, match",
    [
        (Respond(200, json_body={"hello": "world"}), "without data or errors"),
        (Respond(200, json_body=[1, 2]), "without data or errors"),
        (Respond(200, json_body={"errors": []}), "without data or errors"),
        (Respond(200, body=b"<html>gateway</html>"), "not JSON"),
        (Respond(400, body=b"bad request"), "400 with a body that is not JSON"),
    ],
)
def test_a_body_with_neither_data_nor_errors_is_a_service_error(kili, client, answer, match):
    kili.fault("viewer", answer)

    with pytest.raises(ServiceError, match=match) as info:
        client.viewer()

    assert not isinstance(info.value, KiliGraphQLError)
    assert info.value.status_code == answer.status


@pytest.mark.parametrize("status", [404, 405])
def test_a_wrong_endpoint_names_the_graphql_endpoint_expected(kili, make_client, status):
    root = kili.graphql_url.split("/api/label/")[0]
    kili.fault("viewer", Respond(status, json_body={"message": "not found: POST /"}))

    with pytest.raises(ServiceError) as info:
        make_client(url=kili.graphql_url).viewer()

    text = str(info.value)
    assert not isinstance(info.value, KiliGraphQLError)
    assert "is not Kili's GraphQL endpoint" in text and "answered %d" % status in text
    assert "%s/api/label/v2/graphql" % root in text
    assert info.value.status_code == status


def test_expected_endpoint_is_the_servers_origin_with_kilis_path():
    assert expected_endpoint("http://127.0.0.1:8080/") == "http://127.0.0.1:8080/api/label/v2/graphql"
    assert (
        expected_endpoint("https://kili.example.com/api/v1/graphql") == "https://kili.example.com/api/label/v2/graphql"
    )
    assert expected_endpoint("not a url") == kili_client.DEFAULT_URL


def test_a_404_carrying_graphql_errors_is_a_graphql_error(kili, client):
    kili.fault("viewer", Respond(404, json_body=graphql_error("project not found", "projectNotFound")))

    with pytest.raises(KiliGraphQLError, match="project not found"):
        client.viewer()


def test_the_client_is_a_fiftyone_annotation_api_closed_by_with(kili, make_client, monkeypatch):
    import fiftyone.utils.annotations as foua

    client = make_client()
    closed = []
    monkeypatch.setattr(client.http, "close", lambda: closed.append("http"))
    monkeypatch.setattr(client.storage, "close", lambda: closed.append("storage"))
    assert isinstance(client, foua.AnnotationAPI)
    with client as entered:
        assert entered is client
    assert sorted(closed) == ["http", "storage"]


def test_other_error_statuses_are_service_errors(kili, client):
    kili.fault("viewer", Respond(500, json_body={"message": "internal"}))

    with pytest.raises(ServiceError, match="internal") as info:
        client.viewer()

    assert info.value.status_code == 500
    assert kili.count() == 1


def test_queries_are_retried_after_503_and_a_dropped_connection(kili, client, fake_sleep):
    kili.fault("viewer", Respond(503), Drop(), Respond(502))

    assert client.viewer()["email"] == "me@example.com"

    assert kili.fields_called() == ["viewer"] * 4
    assert len(fake_sleep.calls) == 3
    assert client.request_count == 4


def test_queries_give_up_after_max_retries(kili, make_client, fake_sleep):
    client = make_client(max_retries=2)
    kili.fault("viewer", Drop(), Drop(), Drop(), Drop())

    with pytest.raises(ServiceUnavailableError, match="after 3 attempts"):
        client.viewer()

    assert kili.count() == 3


def test_429_retry_after_is_honoured(kili, client, fake_sleep):
    kili.fault("viewer", Respond(429, headers={"Retry-After": "7"}), Respond(429, headers={"Retry-After": "2"}))

    assert client.viewer()["id"] == "user-1"

    assert fake_sleep.calls == [pytest.approx(7.0), pytest.approx(2.0)]
    assert kili.count() == 3


def test_a_mutation_refused_with_429_is_sent_again_without_checks(kili, client, fake_sleep):
    kili.fault("createProject", Respond(429, headers={"Retry-After": "3"}))

    project_id = client.create_project("t", "d-429", {"jobs": {}})

    assert kili.fields_called() == ["createProject", "createProject"]
    assert list(kili.projects) == [project_id]
    assert fake_sleep.calls == [pytest.approx(3.0)]


@pytest.mark.parametrize("lost", [Drop(apply=False), Drop(apply=True), Respond(503), Apply(503), Respond(504)])
def test_mutate_never_resends_a_lost_answer_by_itself(kili, client, fake_sleep, lost):
    kili.fault("createProject", lost)

    with pytest.raises(OutcomeUnknownError, match="may have applied it"):
        client.mutate(
            "mutation($data: CreateProjectData!) { data: createProject(data: $data) { id } }",
            {"data": {"title": "t", "description": "", "inputType": "IMAGE", "jsonInterface": "{}"}},
        )

    assert kili.count() == 1
    assert fake_sleep.calls == []
    assert len(kili.projects) == (1 if lost.apply else 0)


# --------------------------------------------------------------------------
# pacing and counting
# --------------------------------------------------------------------------


class FakeClock:
    """A monotonic clock that only moves when slept on."""

    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def test_the_default_budget_is_500_calls_a_minute_and_uploads_are_not_paced(client):
    assert (client.http.pacer.max_calls, client.http.pacer.window_seconds) == (500, 60.0)
    assert client.storage.pacer.max_calls is None


def test_api_calls_are_paced_to_max_calls_per_window(kili, make_client, monkeypatch, tmp_path):
    clock = FakeClock()
    monkeypatch.setattr(
        kili_client,
        "Pacer",
        lambda max_calls, window_seconds, **_: Pacer(max_calls, window_seconds, clock=clock, sleep=clock.sleep),
    )
    client = make_client(max_calls=2, window_seconds=10)
    assert (client.http.pacer.max_calls, client.http.pacer.window_seconds) == (2, 10.0)
    starts = []
    slot = client.http.pacer.slot

    @contextlib.contextmanager
    def recording_slot():
        with slot():
            starts.append(clock.now)
            yield

    monkeypatch.setattr(client.http.pacer, "slot", recording_slot)
    kili.fault("viewer", Respond(503))  # a retry is an API call too
    path = tmp_path / "img.png"
    path.write_bytes(b"x")

    for _ in range(4):
        client.viewer()
    client.upload_file("%s/storage/p?X-Sig=s&id=1" % kili.url, str(path))  # not paced

    assert starts == [0.0, 0.0, 10.0, 10.0, 20.0]
    assert clock.sleeps == [pytest.approx(10.0), pytest.approx(10.0)]
    for start in starts:
        assert sum(1 for s in starts if start <= s < start + 10) <= 2
    assert kili.count("POST") == 5


def test_max_calls_none_disables_pacing(make_client):
    client = make_client(max_calls=None)
    assert client.http.pacer.max_calls is None


def test_request_count_counts_api_calls_retries_and_uploads(kili, client, tmp_path, fake_sleep):
    path = tmp_path / "img.png"
    path.write_bytes(b"x")
    kili.fault("viewer", Respond(503))

    client.viewer()
    (signed,) = client.signed_upload_urls(["projects/p/assets/c1/content"])
    client.upload_file(signed, str(path))

    assert client.http.request_count == 3
    assert client.storage.request_count == 1
    assert client.request_count == 4 == kili.count()


# --------------------------------------------------------------------------
# construction and secrets
# --------------------------------------------------------------------------


@pytest.mark.parametrize("api_key", [None, ""])
def test_a_client_needs_an_api_key(api_key):
    with pytest.raises(AuthenticationError, match="FIFTYONE_KILI_API_KEY"):
        KiliClient("http://127.0.0.1:1/api/label/v2/graphql", api_key)


def test_a_client_needs_an_endpoint():
    with pytest.raises(ValueError, match="endpoint"):
        KiliClient("", API_KEY)


def test_project_url_is_the_web_app_url():
    assert (
        project_url("https://cloud.kili-technology.com/api/label/v2/graphql", "p1")
        == "https://cloud.kili-technology.com/label/projects/p1/"
    )
    assert project_url("http://127.0.0.1:8000/api/label/v2/graphql", "x") == "http://127.0.0.1:8000/label/projects/x/"


def test_client_project_url(kili, client):
    assert client.project_url("p9") == "%s/label/projects/p9/" % kili.url


def test_the_api_key_never_appears_in_reprs_errors_or_logs(kili, make_client, caplog, fake_sleep):
    caplog.set_level(logging.DEBUG)
    client = make_client(max_retries=1, max_checks=1)
    project_id = kili.add_project("t")
    texts = [repr(client), repr(client.http), repr(client.storage)]

    kili.fault("viewer", Respond(503), Respond(200, json_body=graphql_error("bad key %s" % API_KEY, API_KEY)))
    with pytest.raises(KiliGraphQLError) as info:
        client.viewer()
    texts += [str(info.value), repr(info.value)]

    kili.fault("viewer", Respond(401, json_body={"message": "key %s refused" % API_KEY}))
    with pytest.raises(AuthenticationError) as info:
        client.viewer()
    texts += [str(info.value), repr(info.value)]

    kili.fault("viewer", Respond(500, json_body={"message": "Authorization: X-API-Key: %s" % API_KEY}))
    with pytest.raises(ServiceError) as info:
        client.viewer()
    texts += [str(info.value), repr(info.value)]

    kili.fault("appendManyAssets", Drop(), Drop())
    with pytest.raises(OutcomeUnknownError) as info:
        client.append_assets(project_id, new_assets(["c1"]))
    texts += [str(info.value), repr(info.value)]

    kili.fault("viewer", Drop(), Drop())
    with pytest.raises(ServiceUnavailableError) as info:
        client.viewer()
    texts += [str(info.value), repr(info.value)]

    assert caplog.records  # retries and checks were logged
    assert any("sending it" in r.getMessage() or "still to send" in r.getMessage() for r in caplog.records)
    for record in caplog.records:
        texts.append(record.getMessage())
        if record.exc_text:
            texts.append(record.exc_text)
    texts.append(caplog.text)
    for text in texts:
        assert API_KEY not in text
