"""The Kili emulator: Kili's GraphQL API and upload bucket on 127.0.0.1.

Endpoints (``PORT`` is random unless given)::

    POST /api/label/v2/graphql    GraphQL (the URL clients are given)
    GET  /api/label/v2/version    {"version": ...}
    PUT  /storage/<path>?X-Goog-Signature=...          stores a file
    GET  /storage/<path>?X-Goog-Signature=...[&id=..]  serves it back
    /_emulator/...                control endpoints (see emulator_base)

Authentication: ``Authorization: X-API-Key: <key>`` (a bare ``X-API-Key:
<key>`` header works too). A missing or unknown key gets HTTP 401 with a
GraphQL ``errors`` body (reason ``invalidApiKey``). The official SDK checks the
key with ``{ viewer { id email } }`` when the client is created and refuses a
non-200 answer at once (``AuthenticationFailed``); after that, because the
body has ``errors``, its GraphQL client raises a ``GraphQLError`` at once
instead of retrying a 401 (which it reads as "not processed") for 120 s.

GraphQL errors are answered with HTTP 200: ``{"data": null, "errors":
[{"message", "locations", "path", "extensions": {"code", "context":
{"reason"}}}]}``.

Operations (``schema.graphql``; every root field may be aliased):

- queries: ``viewer``/``me``, ``apiKeys``, ``users``, ``organizations``,
  ``projects``, ``assets``, ``labels`` (``where``, ``first``, ``skip``;
  creation order) and their ``count*``, ``countAssetAnnotations``,
  ``filterExistingAssets``, ``createUploadBucketSignedUrls``,
  ``notifications``/``countNotifications``, introspection
- mutations: ``createUser``, ``createProject``, ``updatePropertiesInProject``,
  ``deleteProjectAsynchronously``, ``deleteProject``, ``appendManyAssets``,
  ``appendManyAssetsAsynchronously`` (native videos, see ``video.py``),
  ``updatePropertiesInAssets``, ``deleteAssets``, ``deleteManyFromDataset``,
  ``addAssetsToReview``, ``sendAssetsBackToQueue``, ``setAssetsPriority``,
  ``appendManyLabels``, ``deleteLabels``

Projects are in workflow V1 (asset statuses TODO, ONGOING, LABELED, REVIEWED,
TO_REVIEW; no steps). A DEFAULT label makes its asset LABELED, a REVIEW label
REVIEWED, an AUTOSAVE label ONGOING (from TODO). Filters the emulator does not
implement (assignees, steps, issues, label search) are refused with the
reason ``unsupportedFilter`` rather than ignored.

Storage: ``createUploadBucketSignedUrls`` returns, per bucket path,
``<base>/storage/<path>?X-Goog-Signature=<hmac>&id=<random>``. A PUT to that
URL cut before ``&id=`` stores the body (a valid signature is needed, no API
key); the full URL is the asset content. A GET serves the bytes with a valid
signature or with an API key.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from graphql import GraphQLError, GraphQLSchema, OperationType, execute_sync, parse, validate
from graphql.language import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)

from ... import __version__
from ..emulator_base import Call, EmulatorServer, Request, Response, json_response, presented_key
from .resolvers import Context, build_kili_schema, load_sdl
from .rules import STORAGE_PREFIX, KiliError, Record, new_id
from .state import KiliState

if TYPE_CHECKING:
    from typing_extensions import Self

logger = logging.getLogger(__name__)

API_PREFIX = "/api/label/v2"
GRAPHQL_PATH = API_PREFIX + "/graphql"
VERSION_PATH = API_PREFIX + "/version"
DEFAULT_ADMIN_EMAIL = "emulator-admin@kili.local"

_SDL = load_sdl()
#: what ``/version`` answers: changes with the schema, so SDK caches follow it
VERSION = "%s-emulator-%s" % (__version__, hashlib.sha1(_SDL.encode("utf-8")).hexdigest()[:8])

_schema: GraphQLSchema | None = None
_schema_lock = threading.Lock()


def _kili_schema() -> GraphQLSchema:
    global _schema
    with _schema_lock:
        if _schema is None:
            _schema = build_kili_schema(_SDL)
        return _schema


def _error(message: str, reason: str, code: str = "OPERATION_RESOLUTION_FAILURE") -> dict[str, Any]:
    return {"message": message, "extensions": {"code": code, "context": {"reason": reason}}}


class KiliEmulator(EmulatorServer):
    """A local emulator of Kili's API, for tests and offline pipelines.

    It speaks Kili's GraphQL protocol well enough for the official ``kili``
    SDK (its start-up checks included) and for our Kili backend: projects,
    assets (with signed-URL uploads), labels, users, and the faults and call
    budget of :class:`~fo_annotation_backends.testing.emulator_base.EmulatorServer`.

    Example::

        with KiliEmulator(api_key="key") as kili:
            client = Kili(api_key="key", api_endpoint=kili.url)

    Args:
        api_key (None): the admin's API key (a random one by default)
        faults (None): fault knobs, e.g. ``{"rate_limit": 0.1}``
        seed (0): the fault-injection seed
        max_calls (None): calls allowed per window; more get 429
        window_seconds (60): the budget's window
        max_page_size (500): the largest ``first`` of a list query
        enforce_limit (True): answer calls over the budget with 429 (else
            only count them)
        host ("127.0.0.1"): the address to bind
        port (0): the port (0: a free one)
        admin_email ("emulator-admin@kili.local"): the email of the key's user
        resolve_remote_media (True): fetch http(s) image content (2 s at
            most) to fill ``resolution``, and hosted videos to decode them
        notification_reads (1): reads of an import's notification before
            it ends (0: asynchronous imports end at once)
    """

    client_path = GRAPHQL_PATH

    def __init__(
        self,
        api_key: str | None = None,
        faults: Mapping[str, Any] | None = None,
        seed: int = 0,
        max_calls: int | None = None,
        window_seconds: float = 60,
        max_page_size: int = 500,
        enforce_limit: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
        admin_email: str = DEFAULT_ADMIN_EMAIL,
        resolve_remote_media: bool = True,
        notification_reads: int = 1,
    ) -> None:
        super().__init__(
            api_key=api_key,
            faults=faults,
            seed=seed,
            max_calls=max_calls,
            window_seconds=window_seconds,
            enforce_limit=enforce_limit,
            host=host,
            port=port,
        )
        if int(max_page_size) < 1:
            raise ValueError("max_page_size must be >= 1")
        self.max_page_size = int(max_page_size)
        self.resolve_remote_media = resolve_remote_media
        self.schema = _kili_schema()
        if int(notification_reads) < 0:
            raise ValueError("notification_reads must be >= 0")
        self.state = KiliState()
        self.state.notification_reads = int(notification_reads)
        self.admin = self.state.add_user(admin_email, "Emulator", "Admin", api_key=self.api_key, role="ADMIN")
        #: query text -> (parsed document, validation errors once validated)
        self._documents: dict[str, tuple[DocumentNode, list[dict[str, Any]] | None]] = {}
        self._documents_lock = threading.Lock()

    def start(self) -> Self:
        super().start()
        self.state.base_url = self.base_url
        return self

    # -- Python helpers (tests, simulated annotators) --------------------------

    def create_user(
        self,
        email: str | None,
        firstname: str | None = "",
        lastname: str | None = "",
        api_key: str | bool | None = None,
        role: str = "USER",
    ) -> dict[str, Any]:
        """Creates a user, with an API key of its own if ``api_key`` is given
        (``True``: a random one); returns ``{id, email, ..., "apiKey"}``."""
        if api_key is True:
            api_key = "emu-" + new_id()
        with self.state.lock:
            user = self.state.add_user(email, firstname, lastname, api_key=api_key or None, role=role)
            return _public(user, apiKey=api_key or None)

    def execute(
        self, query: str, variables: Mapping[str, Any] | None = None, api_key: str | None = None
    ) -> dict[str, Any]:
        """Runs a GraphQL document in-process (not counted, never faulted) as
        the user of ``api_key`` (default: the admin); returns the response
        body (``{"data": ...}`` or ``{"data": None, "errors": [...]}``)."""
        with self.state.lock:
            viewer = self.state.user_by_key(api_key or self.api_key)
        if viewer is None:
            raise ValueError("unknown API key")
        return self._run_graphql({"query": query, "variables": variables or {}}, viewer)

    def list_projects(self) -> list[dict[str, Any]]:
        """Every project (public fields, ``jsonInterface`` decoded)."""
        with self.state.lock:
            return [
                _public(
                    p,
                    jsonInterface=json.loads(p["jsonInterface"]),
                    roles=[{"role": r["role"], "userId": r["_user_id"]} for r in p["roles"]],
                )
                for p in self.state.projects.values()
            ]

    def list_assets(self, project_id: str) -> list[dict[str, Any]]:
        """The project's assets in creation order (``jsonMetadata`` decoded,
        ``labels`` as in :meth:`list_labels`)."""
        with self.state.lock:
            project = self.state.project(project_id)
            out = []
            for asset_id in project["_assets"]:
                asset = self.state.assets[asset_id]
                out.append(
                    _public(
                        asset,
                        jsonMetadata=json.loads(asset["jsonMetadata"] or "{}"),
                        labels=[self._label(label) for label in self.state.asset_labels(asset)],
                    )
                )
            return out

    def list_labels(self, project_id: str) -> list[dict[str, Any]]:
        """The project's labels in creation order (``jsonResponse`` decoded,
        ``author`` as ``{id, email}``)."""
        with self.state.lock:
            return [self._label(label) for label in self.state.filter_labels({"project": {"id": project_id}})]

    def _label(self, label: Record) -> dict[str, Any]:
        author = self.state.users.get(label["_author_id"]) or {}
        return _public(
            label,
            jsonResponse=json.loads(label["jsonResponse"]),
            author={"id": author.get("id"), "email": author.get("email")},
        )

    def add_label(
        self,
        asset_id: str,
        json_response: Mapping[str, Any],
        label_type: str = "DEFAULT",
        author_id: str | None = None,
        model_name: str | None = None,
        seconds_to_label: float | None = None,
    ) -> dict[str, Any]:
        """Adds one label as a person (or a model) would; returns it."""
        data = {
            "labelType": label_type,
            "labelsData": [
                {
                    "assetID": asset_id,
                    "jsonResponse": json.dumps(json_response),
                    "authorID": author_id,
                    "modelName": model_name,
                    "secondsToLabel": seconds_to_label,
                }
            ],
        }
        with self.state.lock:
            return self._label(self.state.append_labels(data, {}, self.admin)[0])

    def stored_content(self, path: str) -> tuple[bytes, str] | None:
        """``(bytes, content_type)`` stored at a bucket path, or ``None``."""
        with self.state.lock:
            return self.state.storage.get(path)

    def clear(self) -> None:
        """Forgets every project, asset, label and stored file (users and
        keys stay)."""
        with self.state.lock:
            self.state.clear()

    # -- HTTP ------------------------------------------------------------------

    def classify(self, request: Request) -> Call:
        path = request.path
        if path == GRAPHQL_PATH and request.method == "POST":
            names, mutation = self._operations(request)
            return Call(names, mutation=mutation)
        if path == VERSION_PATH:
            return Call(["version"], faultable=False, limited=False)
        if path.startswith(STORAGE_PREFIX) and request.method == "PUT":
            return Call(["storage_put"], mutation=True, limited=False)
        if path.startswith(STORAGE_PREFIX) and request.method in ("GET", "HEAD"):
            return Call(["storage_get"], limited=False)
        return Call(["other"], faultable=False, limited=False)

    def handle(self, request: Request, call: Call) -> Response:
        path = request.path
        if path == GRAPHQL_PATH:
            if request.method != "POST":
                return json_response(405, {"errors": [_error("use POST", "methodNotAllowed")]})
            return self._graphql(request)
        if path == VERSION_PATH and request.method == "GET":
            return json_response(200, {"version": VERSION})
        if path.startswith(STORAGE_PREFIX):
            return self._storage(request)
        return json_response(404, {"message": "not found: %s %s" % (request.method, path)})

    def control(self, request: Request, name: str) -> Response | None:
        """``POST /_emulator/users`` ``{"email", "firstname", "lastname",
        "api_key"}`` creates a user; ``POST /_emulator/clear`` forgets every
        project."""
        if name == "users" and request.method == "POST":
            body = request.json() or {}
            try:
                user = self.create_user(
                    body.get("email"), body.get("firstname", ""), body.get("lastname", ""), api_key=body.get("api_key")
                )
            except KiliError as e:
                raise ValueError(e.message) from None
            return json_response(200, user)
        if name == "clear" and request.method == "POST":
            self.clear()
            return json_response(200, {"cleared": True})
        return None

    def _viewer(self, request: Request) -> Record | None:
        with self.state.lock:
            return self.state.user_by_key(presented_key(request.headers))

    def _graphql(self, request: Request) -> Response:
        viewer = self._viewer(request)
        if viewer is None:
            # with "errors", clients fail at once rather than retry a 401
            return json_response(
                401, {"errors": [_error("missing or invalid API key", "invalidApiKey", "UNAUTHENTICATED")]}
            )
        try:
            body = request.json()
        except ValueError:
            return json_response(200, {"data": None, "errors": [_error("the body is not JSON", "invalidBody")]})
        return json_response(200, self._run_graphql(body, viewer))

    def _run_graphql(self, body: object, viewer: Record) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            return {"data": None, "errors": [_error("the body needs a query string", "invalidBody")]}
        variables = body.get("variables") or {}
        if not isinstance(variables, dict):
            return {"data": None, "errors": [_error("variables must be an object", "invalidBody")]}
        document, errors = self._document(body["query"])
        if errors or document is None:
            return {"data": None, "errors": errors}
        context = Context(self.state, viewer, self.max_page_size, self.resolve_remote_media)
        with self.state.lock:
            result = execute_sync(
                self.schema,
                document,
                context_value=context,
                variable_values=variables,
                operation_name=body.get("operationName"),
            )
        if result.errors:
            return {"data": None, "errors": [_format_error(e) for e in result.errors]}
        return {"data": result.data}

    def _document(self, query: str) -> tuple[DocumentNode | None, list[dict[str, Any]]]:
        """The parsed and validated document (cached), or its errors."""
        document = self._parsed(query)
        if document is None:
            try:
                document = parse(query)
            except GraphQLError as e:
                return None, [_format_error(e, "GRAPHQL_PARSE_FAILED")]
        with self._documents_lock:
            errors = self._documents.get(query, (document, None))[1]
        if errors is None:
            errors = [_format_error(e, "GRAPHQL_VALIDATION_FAILED") for e in validate(self.schema, document)]
            with self._documents_lock:
                self._documents[query] = (document, errors)
        return document, errors

    def _parsed(self, query: str) -> DocumentNode | None:
        """The parsed document (cached), ``None`` when it does not parse."""
        with self._documents_lock:
            cached = self._documents.get(query)
        if cached is not None:
            return cached[0]
        try:
            document = parse(query)
        except GraphQLError:
            return None
        with self._documents_lock:
            if len(self._documents) > 512:
                self._documents.clear()
            self._documents.setdefault(query, (document, None))
        return document

    def _operations(self, request: Request) -> tuple[list[str], bool]:
        """The root fields a GraphQL request runs, and whether it mutates."""
        try:
            body = request.json()
            document = self._parsed(body["query"])
        except (ValueError, TypeError, KeyError):
            return ["<invalid>"], False
        if document is None:
            return ["<invalid>"], False
        operation_name = body.get("operationName")
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if operation_name:
            operations = [o for o in operations if o.name and o.name.value == operation_name]
        if len(operations) != 1:
            return ["<invalid>"], False
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        names: list[str] = []
        _root_fields(operations[0].selection_set, fragments, names, set())
        return names or ["<invalid>"], operations[0].operation == OperationType.MUTATION

    def _storage(self, request: Request) -> Response:
        path_and_ok = self.state.storage_path_of(self.base_url + request.target)
        if path_and_ok is None:
            return json_response(404, {"message": "not found"})
        path, signature_ok = path_and_ok
        if request.method == "PUT":
            if not signature_ok:
                return json_response(403, {"message": "invalid or missing signature"})
            with self.state.lock:
                self.state.put_content(path, request.body, request.headers.get("Content-Type"))
            return Response(200, b"", content_type=None)
        if not signature_ok and self._viewer(request) is None:
            return json_response(403, {"message": "a valid signature or an API key is needed"})
        with self.state.lock:
            stored = self.state.storage.get(path)
        if stored is None:
            return json_response(404, {"message": "nothing stored at %s" % path})
        data, content_type = stored
        return Response(200, data, content_type=content_type)


def _root_fields(
    selection_set: SelectionSetNode, fragments: Mapping[str, FragmentDefinitionNode], names: list[str], seen: set[str]
) -> None:
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            names.append(selection.name.value)
        elif isinstance(selection, InlineFragmentNode):
            _root_fields(selection.selection_set, fragments, names, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in fragments and name not in seen:
                seen.add(name)
                _root_fields(fragments[name].selection_set, fragments, names, seen)


def _format_error(error: GraphQLError, code: str | None = None) -> dict[str, Any]:
    original = getattr(error, "original_error", None)
    if isinstance(original, KiliError):
        body = _error(original.message, original.reason)
    elif original is not None and not isinstance(original, GraphQLError):
        logger.exception("Kili emulator: internal error", exc_info=original)
        body = _error("internal error of the emulator: %s" % original, "internalError", "INTERNAL_SERVER_ERROR")
    else:
        code = code or "BAD_USER_INPUT"
        body = _error(error.message, code, code)
    if error.locations:
        body["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    if error.path:
        body["path"] = list(error.path)
    return body


def _public(record: Mapping[str, Any], **overrides: Any) -> dict[str, Any]:
    """A copy of a record without its internal keys."""
    out = {k: v for k, v in record.items() if not k.startswith("_")}
    out.update(overrides)
    return out


__all__ = ["KiliEmulator", "VERSION"]
