"""A local HTTP server that speaks a little Kili, for the KiliClient tests.

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
that reached it (what was re-sent, what was checked). The fixtures ``kili``,
``make_client`` and ``client`` are imported by the test modules.
"""

import collections
import json
import re
import threading
import uuid

import pytest
from scripted_http import Drop, Respond, ScriptedServer, _Handler, _Server, stop_server

from fo_annotation_backends.kili.client import KiliClient

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
            found = self._filter_assets(v["where"])[:first]
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
