"""KiliClient against a real local HTTP server that speaks a little Kili.

The server is :mod:`scripted_http`'s, made GraphQL-aware: requests to the
GraphQL path are answered by a small in-memory Kili (projects, assets,
labels, signed storage URLs), and faults are queued per root field:

- ``Respond(...)``: answered as given, nothing applied;
- ``Apply(status, ...)``: applied, then answered as given (e.g. a 503 after
  the server did the work);
- ``Drop(apply=...)``: the connection is closed without an answer, after
  applying the request or not;
- ``DropAfterApplying(n)``: only the first ``n`` items are applied, then the
  connection is closed.

Everything the server received is kept, so the tests assert on the bodies
that reached it (what was re-sent, what was checked).
"""

import collections
import contextlib
import itertools
import json
import logging
import re
import threading
import uuid

import pytest

import fo_annotation_backends.kili.client as kili_client
from fo_annotation_backends.core.errors import (
    AuthenticationError,
    OutcomeUnknownError,
    ServiceError,
    ServiceUnavailableError,
)
from fo_annotation_backends.core.pacing import Pacer
from fo_annotation_backends.kili.client import KiliClient, KiliGraphQLError, expected_endpoint, project_url
from scripted_http import Apply, Drop, Respond, ScriptedServer, _Handler, _Server, stop_server

API_KEY = "kili-unit-%s" % uuid.uuid4().hex
GRAPHQL_PATH = "/api/label/v2/graphql"
STORAGE_PREFIX = "/storage/"
_ROOT_FIELD_RE = re.compile(r"\{\s*(\w+)\s*:\s*(\w+)")


# --------------------------------------------------------------------------
# a GraphQL-aware scripted server
# --------------------------------------------------------------------------


class DropAfterApplying(Drop):
    """Applies only the first ``first`` items of a batch mutation, then
    closes the connection without answering."""

    def __init__(self, first):
        super().__init__(apply=True)
        self.first = first


class KiliFault(Exception):
    def __init__(self, message, reason):
        super().__init__(message)
        self.message = message
        self.reason = reason


def root_field(document):
    """``(alias, field)`` of the first root field of a GraphQL document."""
    match = _ROOT_FIELD_RE.search(document)
    assert match, "no aliased root field in %r" % document
    return match.group(1), match.group(2)


class FakeKili(ScriptedServer):
    """A :class:`ScriptedServer` whose GraphQL path is an in-memory Kili."""

    def __init__(self):
        super().__init__()
        self._kili_lock = threading.Lock()
        self._local = threading.local()
        self.faults = collections.defaultdict(list)
        self.calls = []  # (field, variables, headers) of every GraphQL request
        self.raw_paths = []  # (method, path with its query string)
        self.projects = {}
        self.assets = {}  # creation order is kept by the dict
        self.stored = {}  # storage path -> bytes
        self._next = 0
        self.max_graphql_calls = 200  # a client stuck in a loop fails instead of hanging

    @property
    def graphql_url(self):
        return self.url + GRAPHQL_PATH

    def fault(self, field, *actions):
        """Answers the next requests of root field ``field`` with ``actions``
        (each used once), then normally again."""
        with self._kili_lock:
            self.faults[field].extend(actions)

    def variables_of(self, field):
        """The variables of every request of root field ``field``, in order."""
        with self._kili_lock:
            return [v for f, v, _ in self.calls if f == field]

    def fields_called(self):
        with self._kili_lock:
            return [f for f, _, _ in self.calls]

    # -- plumbing of the scripted server ---------------------------------

    def record(self, request):
        super().record(request)
        self._local.request = request

    def next_action(self, path):
        request = self._local.request
        if path == GRAPHQL_PATH and request.method == "POST":
            return self._graphql(request)
        if path.startswith(STORAGE_PREFIX) and request.method == "PUT" and path not in self._scripts:
            with self._kili_lock:
                self.stored[path[len(STORAGE_PREFIX) :]] = request.body
            return Respond(200)
        return super().next_action(path)

    def _graphql(self, request):
        body = json.loads(request.body)
        alias, field = root_field(body["query"])
        variables = body.get("variables") or {}
        with self._kili_lock:
            self.calls.append((field, variables, request.headers))
            if len(self.calls) > self.max_graphql_calls:
                return Respond(200, json_body=graphql_error("too many calls", "loopingClient"))
            queue = self.faults.get(field)
            action = queue.pop(0) if queue else None
            if action is not None and not action.apply:
                return action
            try:
                result = self._resolve(field, variables, getattr(action, "first", None))
            except KiliFault as e:
                error = {"message": e.message, "extensions": {"code": "X", "context": {"reason": e.reason}}}
                return Respond(200, json_body={"data": None, "errors": [error]})
        if action is not None:
            return action  # applied; the answer is lost or replaced
        return Respond(200, json_body={"data": {alias: result}})

    # -- the in-memory Kili ----------------------------------------------

    def new_id(self, prefix):
        self._next += 1
        return "%s%d" % (prefix, self._next)

    def add_project(self, title, description="", json_interface=None, input_type="IMAGE"):
        with self._kili_lock:
            return self._create_project(
                {
                    "title": title,
                    "description": description,
                    "inputType": input_type,
                    "jsonInterface": json.dumps(json_interface or {"jobs": {}}),
                }
            )["id"]

    def add_assets(self, project_id, count, prefix="a"):
        with self._kili_lock:
            ids = ["%s%03d" % (prefix, i) for i in range(count)]
            for asset_id in ids:
                self.assets[asset_id] = self._asset(project_id, asset_id, "ext-" + asset_id, "http://x/" + asset_id)
            return ids

    def _asset(self, project_id, asset_id, external_id, content, metadata="{}"):
        return {
            "id": asset_id,
            "projectId": project_id,
            "externalId": external_id,
            "content": content,
            "jsonMetadata": metadata,
            "status": "TODO",
            "labels": [],
        }

    def _create_project(self, data):
        project_id = self.new_id("proj")
        self.projects[project_id] = {
            "id": project_id,
            "title": data["title"],
            "description": data.get("description") or "",
            "inputType": data["inputType"],
            "jsonInterface": data["jsonInterface"],
        }
        return {"id": project_id}

    def _project(self, where):
        project = self.projects.get((where or {}).get("id"))
        if project is None:
            raise KiliFault("project %s not found" % (where or {}).get("id"), "projectNotFound")
        return project

    def _filter_assets(self, where):
        out = list(self.assets.values())
        project_id = (where.get("project") or {}).get("id")
        if project_id is not None:
            out = [a for a in out if a["projectId"] == project_id]
        if where.get("idIn") is not None:
            wanted = set(where["idIn"])
            out = [a for a in out if a["id"] in wanted]
        if where.get("statusIn") is not None:
            out = [a for a in out if a["status"] in where["statusIn"]]
        return out

    def _resolve(self, field, v, first=None):
        if field == "viewer":
            return {"id": "user-1", "email": "me@example.com"}
        if field == "projects":
            where = v["where"]
            found = list(self.projects.values())
            if "id" in where:
                found = [p for p in found if p["id"] == where["id"]]
            if "searchQuery" in where:
                found = [p for p in found if where["searchQuery"].lower() in p["title"].lower()]
            return [dict(p) for p in found[v["skip"] : v["skip"] + v["first"]]]
        if field == "createProject":
            return self._create_project(v["data"])
        if field == "updatePropertiesInProject":
            project = self._project(v["where"])
            project.update(v["data"])
            return {"id": project["id"]}
        if field == "deleteProjectAsynchronously":
            project = self._project(v["where"])
            for asset in self._filter_assets({"project": {"id": project["id"]}}):
                del self.assets[asset["id"]]
            del self.projects[project["id"]]
            return project["id"]
        if field == "countAssets":
            return len(self._filter_assets(v["where"]))
        if field == "assets":
            found = self._filter_assets(v["where"])
            return [json.loads(json.dumps(a)) for a in found[v["skip"] : v["skip"] + v["first"]]]
        if field == "filterExistingAssets":
            have = {a["externalId"] for a in self._filter_assets({"project": {"id": v["projectID"]}})}
            return [e for e in v["externalIDs"] if e in have]
        if field == "createUploadBucketSignedUrls":
            return [
                "%s%s%s?X-Sig=s%d&id=%s" % (self.url, STORAGE_PREFIX, p, i, uuid.uuid4().hex)
                for i, p in enumerate(v["filePaths"])
            ]
        if field == "appendManyAssets":
            project = self._project(v["where"])
            d = v["data"]
            rows = list(zip(d["idArray"], d["externalIDArray"], d["contentArray"], d["jsonMetadataArray"]))
            for asset_id, _, _, _ in rows:
                if asset_id in self.assets:
                    raise KiliFault("asset %s already exists" % asset_id, "assetAlreadyExists")
            for asset_id, external_id, content, metadata in rows[:first]:
                self.assets[asset_id] = self._asset(project["id"], asset_id, external_id, content, metadata)
            return [{"id": r[0]} for r in rows[:first]]
        if field == "appendManyLabels":
            d = v["data"]
            items = d["labelsData"]
            for item in items:
                if item["assetID"] not in self.assets:
                    raise KiliFault("asset %s not found" % item["assetID"], "assetNotFound")
            out = []
            for item in items[:first]:
                label = {
                    "id": self.new_id("label"),
                    "labelType": d["labelType"],
                    "modelName": item.get("modelName"),
                    "jsonResponse": item["jsonResponse"],
                }
                self.assets[item["assetID"]]["labels"].append(label)
                out.append({"id": label["id"]})
            return out
        if field == "deleteAssets":
            found = self._filter_assets(v["where"])
            for asset in found:
                del self.assets[asset["id"]]
            return {"succeeded": [{"assetId": a["id"]} for a in found], "declined": [], "failed": []}
        raise KiliFault("unknown field %s" % field, "unknownField")


class _RawPathHandler(_Handler):
    """Keeps the full request path (with its query string) too."""

    def _handle(self):
        self.server.state.raw_paths.append((self.command, self.path))
        super()._handle()

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle


@pytest.fixture
def kili():
    state = FakeKili()
    httpd = _Server(("127.0.0.1", 0), _RawPathHandler)
    httpd.state = state
    state.httpd = httpd
    state.thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    state.thread.start()
    try:
        yield state
    finally:
        stop_server(state)


@pytest.fixture
def make_client(kili, fake_sleep):
    clients = []

    def make(**kwargs):
        kwargs.setdefault("timeout", 5)
        kwargs.setdefault("max_retries", 3)
        kwargs.setdefault("sleep", fake_sleep)
        client = KiliClient(kwargs.pop("url", kili.graphql_url), kwargs.pop("api_key", API_KEY), **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client):
    return make_client()


def graphql_error(message, reason=None):
    error = {"message": message, "path": ["data"]}
    if reason is not None:
        error["extensions"] = {"code": "OPERATION_RESOLUTION_FAILURE", "context": {"reason": reason}}
    return {"data": None, "errors": [error]}


def new_assets(ids, prefix="http://media/"):
    return [
        {"id": i, "external_id": "ext-" + i, "content": prefix + i + ".jpg", "json_metadata": {"n": n}}
        for n, i in enumerate(ids)
    ]


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
    kili.fault("viewer", Respond(200, json_body={"errors": [{"path": ["data"]}]}), Respond(200, json_body={"errors": ["boom"]}))

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
    assert expected_endpoint("https://kili.example.com/api/v1/graphql") == "https://kili.example.com/api/label/v2/graphql"
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
# mutations whose answer is lost
# --------------------------------------------------------------------------


def test_create_project_sends_the_interface_as_a_json_string(kili, client):
    interface = {"jobs": {"JOB_0": {"mlTask": "CLASSIFICATION"}}}

    project_id = client.create_project("My title", "run d1", interface, input_type="IMAGE")

    (variables,) = kili.variables_of("createProject")
    data = variables["data"]
    assert data["title"] == "My title"
    assert data["description"] == "run d1"
    assert data["inputType"] == "IMAGE"
    assert isinstance(data["jsonInterface"], str)
    assert json.loads(data["jsonInterface"]) == interface
    project = client.get_project(project_id)
    assert project["jsonInterface"] == interface  # decoded
    assert project["title"] == "My title"


@pytest.mark.parametrize("lost", [Drop(apply=True), Apply(503)])
def test_create_project_after_a_lost_answer_finds_the_project_instead_of_creating_another(kili, client, lost):
    other = kili.add_project("Shared title", "another run")  # same title, other description
    kili.add_project("Shared title 2", "run d1")  # matched by the search, not by the title
    kili.fault("createProject", lost)

    project_id = client.create_project("Shared title", "run d1", {"jobs": {}})

    assert project_id != other
    assert kili.projects[project_id]["description"] == "run d1"
    assert kili.fields_called() == ["createProject", "projects"]
    assert kili.variables_of("projects")[0]["where"] == {"searchQuery": "Shared title"}
    assert sum(1 for p in kili.projects.values() if p["title"] == "Shared title") == 2


@pytest.mark.parametrize("lost", [Drop(apply=False), Respond(503)])
def test_create_project_not_applied_is_sent_once_more(kili, client, lost):
    kili.fault("createProject", lost)

    project_id = client.create_project("t", "run d2", {"jobs": {}})

    assert kili.fields_called() == ["createProject", "projects", "createProject"]
    assert list(kili.projects) == [project_id]


def test_create_project_gives_up_after_max_checks(kili, make_client):
    client = make_client(max_checks=2)
    kili.fault("createProject", Drop(), Drop(), Drop(), Drop())

    with pytest.raises(OutcomeUnknownError):
        client.create_project("t", "run d3", {"jobs": {}})

    assert kili.fields_called() == ["createProject", "projects"] * 2 + ["createProject"]
    assert kili.projects == {}


def test_find_projects_pages_and_keeps_exact_titles(kili, client):
    for n in range(130):
        kili.add_project("dup", "d%d" % n)
    kili.add_project("dup and more", "x")

    found = client.find_projects("dup")

    assert len(found) == 130
    assert {p["title"] for p in found} == {"dup"}
    assert [v["skip"] for v in kili.variables_of("projects")] == [0, 100]


def test_get_project_of_a_missing_project_is_none(kili, client):
    assert client.get_project("nope") is None
    assert kili.variables_of("projects") == [{"where": {"id": "nope"}, "first": 1, "skip": 0}]


def test_update_json_interface_is_idempotent_and_retried(kili, client, fake_sleep):
    project_id = kili.add_project("t")
    kili.fault("updatePropertiesInProject", Apply(503), Drop(apply=True))

    client.update_json_interface(project_id, {"jobs": {"J": {}}})

    assert kili.fields_called() == ["updatePropertiesInProject"] * 3
    assert json.loads(kili.projects[project_id]["jsonInterface"]) == {"jobs": {"J": {}}}
    assert kili.variables_of("updatePropertiesInProject")[0]["where"] == {"id": project_id}


def test_append_assets_wire_format(kili, client):
    project_id = kili.add_project("t")

    client.append_assets(project_id, new_assets(["c1", "c2"]) + [{"id": "c3", "external_id": "e3", "content": "u3"}])

    (variables,) = kili.variables_of("appendManyAssets")
    assert variables["where"] == {"id": project_id}
    data = variables["data"]
    assert data["idArray"] == ["c1", "c2", "c3"]
    assert data["externalIDArray"] == ["ext-c1", "ext-c2", "e3"]
    assert data["contentArray"] == ["http://media/c1.jpg", "http://media/c2.jpg", "u3"]
    assert data["isHoneypotArray"] == [False] * 3
    assert data["jsonContentArray"] == [""] * 3
    assert data["jsonMetadataArray"] == ['{"n": 0}', '{"n": 1}', "{}"]
    assert list(kili.assets) == ["c1", "c2", "c3"]


def test_append_assets_refuses_more_than_100_before_sending(kili, client):
    with pytest.raises(ValueError, match="100"):
        client.append_assets("p", new_assets(["c%d" % i for i in range(101)]))
    assert kili.count() == 0


@pytest.mark.parametrize("lost", [Drop(apply=True), Apply(503), Apply(502)])
def test_append_assets_applied_but_unanswered_is_not_sent_again(kili, client, lost):
    project_id = kili.add_project("t")
    ids = ["c%d" % i for i in range(5)]
    kili.fault("appendManyAssets", lost)

    client.append_assets(project_id, new_assets(ids))

    assert kili.fields_called() == ["appendManyAssets", "assets"]
    (check,) = kili.variables_of("assets")
    assert check["where"] == {"project": {"id": project_id}, "idIn": ids}
    assert list(kili.assets) == ids


@pytest.mark.parametrize("lost", [Drop(apply=False), Respond(503)])
def test_append_assets_not_applied_is_sent_again_in_full(kili, client, lost):
    project_id = kili.add_project("t")
    ids = ["c%d" % i for i in range(5)]
    kili.fault("appendManyAssets", lost)

    client.append_assets(project_id, new_assets(ids))

    assert kili.fields_called() == ["appendManyAssets", "assets", "appendManyAssets"]
    first, second = kili.variables_of("appendManyAssets")
    assert second == first
    assert list(kili.assets) == ids


def test_append_assets_partly_applied_sends_only_the_missing_ones(kili, client):
    project_id = kili.add_project("t")
    ids = ["c%d" % i for i in range(6)]
    kili.fault("appendManyAssets", DropAfterApplying(2), DropAfterApplying(1))

    client.append_assets(project_id, new_assets(ids))

    assert kili.fields_called() == ["appendManyAssets", "assets"] * 2 + ["appendManyAssets"]
    sent = [v["data"] for v in kili.variables_of("appendManyAssets")]
    assert [d["idArray"] for d in sent] == [ids, ids[2:], ids[3:]]
    # the arrays stay aligned with their asset
    assert sent[1]["externalIDArray"] == ["ext-" + i for i in ids[2:]]
    assert sent[1]["contentArray"] == ["http://media/%s.jpg" % i for i in ids[2:]]
    assert sent[2]["jsonMetadataArray"] == [json.dumps({"n": n}) for n in range(3, 6)]
    assert [v["where"]["idIn"] for v in kili.variables_of("assets")] == [ids, ids[2:]]
    assert list(kili.assets) == ids
    assert [a["externalId"] for a in kili.assets.values()] == ["ext-" + i for i in ids]


def test_append_assets_gives_up_after_max_checks(kili, make_client):
    client = make_client(max_checks=1)
    project_id = kili.add_project("t")
    kili.fault("appendManyAssets", Drop(), Drop(), Drop())

    with pytest.raises(OutcomeUnknownError):
        client.append_assets(project_id, new_assets(["c1"]))

    assert kili.fields_called() == ["appendManyAssets", "assets", "appendManyAssets"]
    assert kili.assets == {}


def test_delete_project_answer_lost_after_deleting_is_not_sent_again(kili, client):
    project_id = kili.add_project("t")
    kili.fault("deleteProjectAsynchronously", Drop(apply=True))

    client.delete_project(project_id)

    assert kili.fields_called() == ["deleteProjectAsynchronously", "projects"]
    assert kili.variables_of("deleteProjectAsynchronously") == [{"where": {"id": project_id}}]
    assert kili.projects == {}


def test_delete_project_not_applied_is_sent_again(kili, client):
    project_id = kili.add_project("t")
    kili.fault("deleteProjectAsynchronously", Respond(503))

    client.delete_project(project_id)

    assert kili.fields_called() == ["deleteProjectAsynchronously", "projects", "deleteProjectAsynchronously"]
    assert kili.projects == {}


def test_delete_project_already_deleted_elsewhere_before_a_lost_answer(kili, client):
    """Kili deleted it (or someone did) and the answer is lost: the check
    sees no project, so nothing is sent again and no error is raised."""
    kili.fault("deleteProjectAsynchronously", Drop(apply=False))

    client.delete_project("gone")

    assert kili.fields_called() == ["deleteProjectAsynchronously", "projects"]


def test_delete_project_of_a_project_already_gone_counts_as_deleted(kili, client):
    client.delete_project("gone")


def test_delete_assets_100_a_call_and_lost_answers_are_checked(kili, client):
    project_id = kili.add_project("t")
    ids = kili.add_assets(project_id, 150)
    kili.fault("deleteAssets", Drop(apply=True))

    client.delete_assets(project_id, ids)

    assert kili.fields_called() == ["deleteAssets", "assets", "deleteAssets"]
    chunks = [v["where"] for v in kili.variables_of("deleteAssets")]
    assert chunks == [{"project": {"id": project_id}, "idIn": ids[:100]}, {"project": {"id": project_id}, "idIn": ids[100:]}]
    assert kili.assets == {}


def test_append_predictions_wire_format_and_chunks(kili, client):
    project_id = kili.add_project("t")
    ids = kili.add_assets(project_id, 150)
    labels = [(a, {"JOB": {"categories": [{"name": "K%d" % n}]}}) for n, a in enumerate(ids)]

    client.append_predictions(project_id, "fiftyone", labels)

    sent = kili.variables_of("appendManyLabels")
    assert [len(v["data"]["labelsData"]) for v in sent] == [100, 50]
    first = sent[0]
    assert first["data"]["labelType"] == "PREDICTION"
    assert first["data"]["overwrite"] is False
    assert first["where"] == {"project": {"id": project_id}, "idIn": ids[:100]}
    item = first["data"]["labelsData"][7]
    assert item == {"assetID": ids[7], "jsonResponse": json.dumps(labels[7][1]), "modelName": "fiftyone"}
    assert "authorID" not in item
    assert all(len(a["labels"]) == 1 for a in kili.assets.values())


@pytest.mark.parametrize("lost", [Drop(apply=True), Apply(503)])
def test_append_predictions_applied_but_unanswered_is_not_sent_again(kili, client, lost):
    project_id = kili.add_project("t")
    ids = kili.add_assets(project_id, 3)
    kili.fault("appendManyLabels", lost)

    client.append_predictions(project_id, "m1", [(a, {"J": {}}) for a in ids])

    assert kili.fields_called() == ["appendManyLabels", "assets"]
    (check,) = kili.variables_of("assets")
    assert check["where"] == {"project": {"id": project_id}, "idIn": ids}
    assert [len(a["labels"]) for a in kili.assets.values()] == [1, 1, 1]


def test_append_predictions_checks_the_model_name_and_resends_only_the_missing(kili, client):
    project_id = kili.add_project("t")
    ids = kili.add_assets(project_id, 4)
    # a prediction of another model does not count
    kili.assets[ids[3]]["labels"].append({"id": "old", "labelType": "PREDICTION", "modelName": "other", "jsonResponse": "{}"})
    kili.assets[ids[2]]["labels"].append({"id": "old2", "labelType": "DEFAULT", "modelName": "m1", "jsonResponse": "{}"})
    kili.fault("appendManyLabels", DropAfterApplying(2))

    client.append_predictions(project_id, "m1", [(a, {"J": {"n": n}}) for n, a in enumerate(ids)])

    assert kili.fields_called() == ["appendManyLabels", "assets", "appendManyLabels"]
    second = kili.variables_of("appendManyLabels")[1]
    assert [item["assetID"] for item in second["data"]["labelsData"]] == ids[2:]
    assert [json.loads(item["jsonResponse"]) for item in second["data"]["labelsData"]] == [{"J": {"n": 2}}, {"J": {"n": 3}}]
    assert second["where"]["idIn"] == ids[2:]
    for asset_id in ids:
        m1 = [l for l in kili.assets[asset_id]["labels"] if l["labelType"] == "PREDICTION" and l["modelName"] == "m1"]
        assert len(m1) == 1
    assert client.assets_with_prediction(project_id, ids, "m1") == set(ids)
    assert client.assets_with_prediction(project_id, ids, "other") == {ids[3]}


def test_append_predictions_not_applied_is_sent_again(kili, client):
    project_id = kili.add_project("t")
    ids = kili.add_assets(project_id, 2)
    kili.fault("appendManyLabels", Drop(apply=False))

    client.append_predictions(project_id, "m1", [(a, {}) for a in ids])

    assert kili.fields_called() == ["appendManyLabels", "assets", "appendManyLabels"]
    assert [len(a["labels"]) for a in kili.assets.values()] == [1, 1]


# --------------------------------------------------------------------------
# paging and chunking
# --------------------------------------------------------------------------


def test_iter_assets_advances_skip_and_stops_on_a_short_page(kili, client):
    project_id = kili.add_project("t")
    ids = kili.add_assets(project_id, 250)

    got = list(itertools.islice(client.iter_assets({"project": {"id": project_id}}, "id externalId", 100), 1000))

    assert [a["id"] for a in got] == ids
    sent = kili.variables_of("assets")
    assert [(v["skip"], v["first"]) for v in sent] == [(0, 100), (100, 100), (200, 100)]
    assert all(v["where"] == {"project": {"id": project_id}} for v in sent)
    assert "{ id externalId }" in json.loads(kili.requests[0].body)["query"]


def test_iter_assets_of_an_exact_multiple_stops_on_the_empty_page(kili, client):
    project_id = kili.add_project("t")
    kili.add_assets(project_id, 20)

    got = list(itertools.islice(client.iter_assets({"project": {"id": project_id}}, page_size=10), 1000))

    assert len(got) == 20
    assert [v["skip"] for v in kili.variables_of("assets")] == [0, 10, 20]


def test_iter_assets_treats_null_as_an_empty_page(kili, client):
    kili.fault("assets", Respond(200, json_body={"data": {"data": None}}))

    assert list(client.iter_assets({})) == []
    assert kili.count() == 1


def test_assets_by_id_chunks_the_ids_and_drops_the_missing(kili, client):
    project_id = kili.add_project("t")
    ids = kili.add_assets(project_id, 25)
    wanted = ids[:20] + ["missing1", "missing2"]

    got = client.assets_by_id(project_id, wanted, fields="id", page_size=10)

    assert sorted(got) == sorted(ids[:20])
    assert got[ids[3]]["id"] == ids[3]
    chunks = [v["where"]["idIn"] for v in kili.variables_of("assets")]
    assert all(len(c) <= 10 for c in chunks)
    assert [c for n, c in enumerate(chunks) if n == 0 or c != chunks[n - 1]] == [ids[:10], ids[10:20], ["missing1", "missing2"]]
    assert all(v["where"]["project"] == {"id": project_id} for v in kili.variables_of("assets"))


def test_assets_by_id_of_no_ids_asks_nothing(kili, client):
    assert client.assets_by_id("p", []) == {}
    assert kili.count() == 0


def test_count_assets(kili, client):
    project_id = kili.add_project("t")
    kili.add_assets(project_id, 7)

    assert client.count_assets({"project": {"id": project_id}}) == 7


def test_existing_external_ids_asks_100_per_call(kili, client):
    project_id = kili.add_project("t")
    kili.add_assets(project_id, 120)  # external ids ext-a000 ... ext-a119
    wanted = ["ext-a%03d" % i for i in range(0, 250)]

    found = client.existing_external_ids(project_id, wanted)

    assert found == {"ext-a%03d" % i for i in range(120)}
    sent = kili.variables_of("filterExistingAssets")
    assert [len(v["externalIDs"]) for v in sent] == [100, 100, 50]
    assert [v["externalIDs"] for v in sent] == [wanted[:100], wanted[100:200], wanted[200:]]
    assert all(v["projectID"] == project_id for v in sent)


def test_existing_external_ids_null_answer_is_empty(kili, client):
    kili.fault("filterExistingAssets", Respond(200, json_body={"data": {"external_ids": None}}))

    assert client.existing_external_ids("p", ["e1"]) == set()


def test_signed_upload_urls_asks_30_paths_per_call(kili, client):
    paths = ["projects/p/assets/c%02d/content" % i for i in range(65)]

    urls = client.signed_upload_urls(paths)

    assert len(urls) == 65
    assert all(url.startswith("%s/storage/%s?" % (kili.url, path)) for url, path in zip(urls, paths))
    sent = kili.variables_of("createUploadBucketSignedUrls")
    assert [v["filePaths"] for v in sent] == [paths[:30], paths[30:60], paths[60:]]


@pytest.mark.parametrize("answer", [["only-one"], None])
def test_signed_upload_urls_of_the_wrong_count_is_an_error(kili, client, answer):
    kili.fault("createUploadBucketSignedUrls", Respond(200, json_body={"data": {"urls": answer}}))

    with pytest.raises(ServiceError, match="for 2 files"):
        client.signed_upload_urls(["a", "b"])


# --------------------------------------------------------------------------
# uploads to signed storage URLs
# --------------------------------------------------------------------------


@pytest.mark.parametrize("name, mime", [("img.png", "image/png"), ("photo.jpg", "image/jpeg"), ("blob.xyz123", "application/octet-stream")])
def test_upload_file_puts_the_raw_bytes_to_the_url_cut_before_id(kili, client, tmp_path, name, mime):
    data = bytes(range(256)) * 10
    path = tmp_path / name
    path.write_bytes(data)
    (signed,) = client.signed_upload_urls(["projects/p/assets/c1/content"])
    assert "&id=" in signed

    content = client.upload_file(signed, str(path))

    assert content == signed  # the full URL is the asset content
    put = [r for r in kili.requests if r.method == "PUT"]
    assert len(put) == 1
    assert put[0].path == "/storage/projects/p/assets/c1/content"
    assert put[0].body == data
    assert put[0].headers["Content-Type"] == mime
    assert "Authorization" not in put[0].headers  # the key never goes to storage
    raw = [p for m, p in kili.raw_paths if m == "PUT"]
    assert raw == [signed.split("&id=", 1)[0][len(kili.url) :]]
    assert "&id=" not in raw[0]
    assert kili.stored == {"projects/p/assets/c1/content": data}


def test_upload_file_is_retried_with_the_whole_body(kili, client, tmp_path, fake_sleep):
    path = tmp_path / "img.png"
    path.write_bytes(b"\x89PNG" + b"x" * 5000)
    storage_path = "/storage/projects/p/assets/c1/content"
    kili.script(storage_path, Respond(503), Drop(), Respond(200))
    signed = "%s%s?X-Sig=s&id=abc" % (kili.url, storage_path)

    assert client.upload_file(signed, str(path)) == signed

    put = [r for r in kili.requests if r.method == "PUT"]
    assert len(put) == 3
    assert all(r.body == path.read_bytes() for r in put)
    assert len(fake_sleep.calls) == 2
    assert client.storage.request_count == 3
    assert client.http.request_count == 0


def test_upload_file_refused_by_storage_is_a_service_error(kili, client, tmp_path):
    path = tmp_path / "img.png"
    path.write_bytes(b"x")
    storage_path = "/storage/projects/p/assets/c1/content"
    kili.script(storage_path, Respond(403, body=b"SignatureDoesNotMatch"))

    with pytest.raises(AuthenticationError, match="SignatureDoesNotMatch"):
        client.upload_file("%s%s?X-Sig=bad&id=1" % (kili.url, storage_path), str(path))


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
