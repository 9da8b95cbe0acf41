"""The Picsellia emulator: Picsellia's REST API (``/api/``) on 127.0.0.1.

Clients are given the base URL ``http://127.0.0.1:PORT`` (the SDK's ``host``;
it appends absolute ``/api/...`` paths).

Transport (as the service and its SDK 6.37.0):

- every ``/api/`` request needs ``Authorization: Bearer <token>``; otherwise
  401. Errors answer ``{"message", "detail"}`` with 400 (bad input), 401,
  403 (bad storage signature), 404 (unknown id, name or route), 409
  (duplicate); a DELETE answers 204 with an empty body, anything else 200
- ``XGET`` is GET with a JSON body (id-list lookups); unknown body fields are
  refused (400) so that a misspelt field does not pass silently
- lists answer ``{"items", "count", "next_cursor"}``: ``limit`` (<= 1000)
  with ``offset``, or with ``cursor``; ``next_cursor`` is null on the last
  page and absent when ``order_by`` is given. ``upload_statuses`` and
  ``types`` (repeated keys) filter data and asset lists

Endpoints (relative to ``/api/``; ``V`` = ``dataset/version/{id}``)::

    GET    home/ping                           {sdk_version, default_organization, username}
    GET    organization/{org}                  {id, name, default_connector_id}
    GET    organizations/find?name=
    GET    organization/{org}/datalake         {id, name, connector_id}
    GET    access/organization/{org}/users     {users: [{id, username}]}
    POST   organization/{org}/connector/{c}/generate_object_name  {filename, type: DATA} -> {object_name}
    POST   object-storage/{c}/generate_presigned_url  {object_name, content_type} -> {client_type, presigned_url_data}
    POST   object-storage/{c}/init_multipart_upload | generate_part_presigned_url | complete_part_upload
    POST   datalake/{dl}/datas                 {type: IMAGE, filename, object_name, content_type, tags?, meta?}
    GET    datalake/{dl}/datas, XGET datalake/{dl}/datas
    GET    data/{id}                           PENDING -> COMPUTING -> DONE, one step per read
    POST   organization/{org}/datasets         {name, description} -> {id, name}
    GET    organization/{org}/datasets/find?name= | ?id=
    GET    organization/{org}/datasetversions/find?id=   a version by id (the SDK's get_dataset_version_by_id)
    POST   dataset/{ds}/versions               {version, description, type}
    GET    dataset/{ds}/versions/find?version=
    GET | PATCH {type?} | DELETE  V
    POST   V/labels {name}; GET V/labels; XGET V/bulk-labels {names} (get or create); GET V/labels/find?name=; GET V/labelgroups (none)
    POST   V/attributes {attributes: {name: configuration} | null}; GET V/attributes -> {attributes}
    POST   V/assets {data_ids, asset_tag_ids} -> {job}; GET /api/job/{id}
    GET | XGET V/assets; GET V/assets/find?filename=|object_name=|data_id=|id=; DELETE V/assets {ids}
    POST   asset/{a}/annotations {duration}; GET asset/{a}/annotations; GET asset/{a}/annotations/find (newest)
    POST   annotation/{id}/bulk-rectangles|polygons|lines|points|classifications|keypoints|masks
    POST   annotation/{id}/save {duration?, attributes?, <kind>?}; PATCH annotation/{id} {status?, attributes?}
    GET | DELETE annotation/{id}
    GET    annotation/{id}/rectangles|polygons|lines|points|classifications|keypoints|masks  {items, count}
    GET | PATCH | DELETE rectangle|polygon|line|point|classification/{id}   one shape (PATCH: x, y, w, h |
                                        polygon | line | point, label_id, text, attributes; the rest is kept)
    GET | DELETE mask/{id}
    POST   V/bulk-annotations {import_type, status?, annotations} -> {annotation id: number of shapes}
    GET    V/annotations?limit&offset&status; GET V/annotations/ids?status=&asset_ids=
    XGET   V/annotations [ids]; DELETE V/annotations {asset_ids, annotation_ids?}

Shapes: the shape endpoints (``bulk-<kind>`` answers ``{kind: [shapes]}``,
``<kind>/{id}``) give the label as an object ``{"id", "name", "group_id"}``; a
load (``XGET V/annotations``) gives the label's name. Every shape carries
``text`` (null) and ``attributes`` ({}); an annotation carries its
``attributes`` ({}). A mask is ``{"mask": <COCO compressed RLE counts>,
"label_id"}`` written, and answered with its ``area`` and ``bbox`` ([x, y,
w, h], as pycocotools' toBbox); its runs must cover exactly the asset's
width x height and hold at least one pixel (400 otherwise). MASK versions
hold masks only, MULTI versions every kind, masks included.

Attributes: ``V/attributes`` holds the version's configuration as the SDK's
``set_attributes`` documents it (400 on display_name outside 1-256
characters, an input_type other than STRING, INTEGER, FLOAT, BOOLEAN, fewer
than 1 (2 for STRING) or over 64 choices, choices on BOOLEAN or with min/max,
allow_multiple without choices, min/max on STRING/BOOLEAN or min >= max, an
archived required attribute). With a configuration, the attributes of
shapes and annotations (save, PATCH, bulk-import items) are checked: 400 on
an unknown name, a value of another type (a bool is not a number; an int is
a FLOAT), outside the choices or min/max, or a list without
allow_multiple; ``required`` is not enforced (imports carry partial work).

Storage (no Bearer token; the presigned fields or signature authorize)::

    POST   /_storage/                          multipart form: presigned fields + file (answers 204)
    PUT    /_storage/parts/{upload}/{part}?signature=   one part (answers its ETag)
    GET    /_storage/object/{object name}?signature=     a data's presigned_url

Choices where the service's behaviour is unknown: ``save`` replaces every
shape (a kind left out is emptied); a bulk import is checked in full before
anything is written; ``REPLACE`` deletes the asset's annotations and makes
one, ``KEEP`` leaves an annotated asset alone, ``CONCATENATE`` appends to the
newest annotation (merging its attributes); ``save`` keeps the annotation's
attributes unless it gives some; MULTI versions take masks (the SDK names
no version type for shape writes); a one-shape ``PATCH`` is checked as a
new shape (bounds, integer rectangles, the version's labels and attributes)
and, with ``DELETE <kind>/{id}``, refused on an asset synced in a campaign,
as shape writes are (keypoints have no one-shape routes: the SDK has no
keypoint class); an attribute configuration
does not re-check the values already written.

Campaigns (``C`` = ``campaigns/annotation/{id}``): ``POST V/campaigns`` (one
per version, 409 on a second; ``auto_add_new_assets`` is refused as not
implemented), ``GET | PATCH | DELETE C``, ``POST C/close``, ``POST | GET
C/steps`` (assignees must be organization users), ``GET
C/assignments/sync/available``, ``POST C/assignments/sync`` (a job at ``GET
/api/v2/job/{id}``; each unsynced asset gets an assignment TO_DO at the first
step, round-robin over its assignees, or at ``existing_annotations_step_id``
/ DONE when annotated), ``GET C/assignments`` (cursor paging; ``V/assets``
filters by ``assignment_status``, ``assignment_step_id``). As the service
documents: a bulk import skips assets synced in a campaign, shape writes on
them are refused (400), and deleting ``__all__`` annotations is refused on a
version with a campaign. Faults, the optional call budget
and the control endpoints come from
:mod:`fo_annotation_backends.testing.emulator_base`; operations are named by
method and path template, e.g. ``"XGET V/assets"``, ``"POST storage"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from ..emulator_base import (
    DELETED,
    Call,
    Deleted,
    EmulatorServer,
    Request,
    Response,
    bearer_token,
    json_response,
    match_route,
)
from .formats import Json, PicselliaError, bad_request, not_found, paginate, query_value
from .state import STORAGE_PREFIX, PicselliaState, public
from .state_annotations import SHAPE_OF_NAME, public_annotation
from .storage import parse_multipart

if TYPE_CHECKING:
    from typing_extensions import Self

API_PREFIX = "/api/"
V = "dataset/version/{id}"
C = "campaigns/annotation/{id}"

#: (method, path template, handler); the first match wins
ROUTES = (
    ("GET", "home/ping", "_ping"),
    ("GET", "organizations/find", "_find_organization"),
    ("GET", "organization/{id}", "_organization"),
    ("GET", "organization/{id}/datalake", "_datalake"),
    ("GET", "access/organization/{id}/users", "_users"),
    ("POST", "organization/{id}/connector/{id}/generate_object_name", "_object_name"),
    ("POST", "object-storage/{id}/generate_presigned_url", "_presigned"),
    ("POST", "object-storage/{id}/init_multipart_upload", "_init_multipart"),
    ("POST", "object-storage/{id}/generate_part_presigned_url", "_part_url"),
    ("POST", "object-storage/{id}/complete_part_upload", "_complete_multipart"),
    ("POST", "datalake/{id}/datas", "_create_data"),
    ("GET", "datalake/{id}/datas", "_list_datas"),
    ("XGET", "datalake/{id}/datas", "_list_datas"),
    ("DELETE", "datalake/{id}/datas", "_delete_datas"),
    ("GET", "data/{id}", "_data"),
    ("DELETE", "data/{id}", "_delete_data"),
    ("POST", "organization/{id}/datasets", "_create_dataset"),
    ("GET", "organization/{id}/datasets/find", "_find_dataset"),
    ("GET", "organization/{id}/datasetversions/find", "_find_version_by_id"),
    ("GET", "dataset/{id}", "_dataset"),
    ("DELETE", "dataset/{id}", "_delete_dataset"),
    ("GET", "dataset/{id}/versions", "_list_versions"),
    ("POST", "dataset/{id}/versions", "_create_version"),
    ("GET", "dataset/{id}/versions/find", "_find_version"),
    ("GET", V, "_version"),
    ("PATCH", V, "_update_version"),
    ("DELETE", V, "_delete_version"),
    ("POST", V + "/labels", "_create_label"),
    ("GET", V + "/labels", "_list_labels"),
    ("XGET", V + "/bulk-labels", "_bulk_labels"),
    ("GET", V + "/labels/find", "_find_label"),
    ("GET", V + "/labelgroups", "_label_groups"),
    ("POST", V + "/attributes", "_set_attributes"),
    ("GET", V + "/attributes", "_get_attributes"),
    ("POST", V + "/assets", "_add_data"),
    ("GET", V + "/assets", "_list_assets"),
    ("XGET", V + "/assets", "_list_assets"),
    ("GET", V + "/assets/find", "_find_asset"),
    ("DELETE", V + "/assets", "_delete_assets"),
    ("GET", "job/{id}", "_job"),
    ("POST", "asset/{id}/annotations", "_create_annotation"),
    ("GET", "asset/{id}/annotations", "_asset_annotations"),
    ("GET", "asset/{id}/annotations/find", "_asset_annotation"),
    ("POST", "annotation/{id}/bulk-rectangles", "_add_shapes"),
    ("POST", "annotation/{id}/bulk-polygons", "_add_shapes"),
    ("POST", "annotation/{id}/bulk-lines", "_add_shapes"),
    ("POST", "annotation/{id}/bulk-points", "_add_shapes"),
    ("POST", "annotation/{id}/bulk-classifications", "_add_shapes"),
    ("POST", "annotation/{id}/bulk-keypoints", "_add_shapes"),
    ("POST", "annotation/{id}/bulk-masks", "_add_shapes"),
    ("POST", "annotation/{id}/save", "_save"),
    ("PATCH", "annotation/{id}", "_update_annotation"),
    ("GET", "annotation/{id}", "_annotation"),
    ("DELETE", "annotation/{id}", "_delete_annotation"),
    ("GET", "annotation/{id}/rectangles", "_shapes_of"),
    ("GET", "annotation/{id}/polygons", "_shapes_of"),
    ("GET", "annotation/{id}/lines", "_shapes_of"),
    ("GET", "annotation/{id}/points", "_shapes_of"),
    ("GET", "annotation/{id}/classifications", "_shapes_of"),
    ("GET", "annotation/{id}/keypoints", "_shapes_of"),
    ("GET", "annotation/{id}/masks", "_shapes_of"),
    *(("GET", name + "/{id}", "_shape") for name in SHAPE_OF_NAME),
    *(("PATCH", name + "/{id}", "_update_shape") for name in SHAPE_OF_NAME if name != "mask"),
    *(("DELETE", name + "/{id}", "_delete_shape") for name in SHAPE_OF_NAME),
    ("POST", V + "/bulk-annotations", "_bulk_import"),
    ("GET", V + "/annotations", "_list_annotations"),
    ("GET", V + "/annotations/ids", "_annotation_ids"),
    ("XGET", V + "/annotations", "_load_annotations"),
    ("DELETE", V + "/annotations", "_delete_annotations"),
    ("POST", V + "/campaigns", "_create_campaign"),
    ("GET", C, "_campaign"),
    ("PATCH", C, "_update_campaign"),
    ("DELETE", C, "_delete_campaign"),
    ("POST", C + "/close", "_close_campaign"),
    ("POST", C + "/steps", "_create_step"),
    ("GET", C + "/steps", "_list_steps"),
    ("GET", C + "/assignments/sync/available", "_sync_available"),
    ("POST", C + "/assignments/sync", "_sync"),
    ("GET", C + "/assignments", "_list_assignments"),
    ("GET", "v2/job/{id}", "_job_v2"),
)

#: every operation name the emulator counts
OPERATIONS = tuple("%s %s" % (m, t.replace(V, "V")) for m, t, _ in ROUTES) + (
    "POST storage",
    "PUT storage",
    "GET storage",
    "other",
)

#: the shape kind of each bulk route's last segment
SHAPE_OF_ROUTE = {
    "bulk-" + kind: kind
    for kind in ("rectangles", "polygons", "lines", "points", "classifications", "keypoints", "masks")
}


def _shape_kind(request: Request) -> str:
    """The shape kind of a one-shape path ``/api/<name>/{id}``."""
    return SHAPE_OF_NAME[request.path[len(API_PREFIX) :].split("/", 1)[0]]


def _match(method: str, path: str) -> tuple[str, str, list[str]] | None:
    """``(operation, handler name, ids)`` of a path relative to ``/api/``."""
    match = match_route(ROUTES, method, path.rstrip("/"))
    if match is None:
        return None
    template, handler, ids = match
    return "%s %s" % (method, template.replace(V, "V")), handler, ids


class PicselliaEmulator(EmulatorServer):
    """A local emulator of Picsellia's REST API, for tests and offline pipelines.

    Example::

        with PicselliaEmulator(api_key="key") as picsellia:
            client = picsellia_sdk.Client(api_token="key", host=picsellia.url)

    Args:
        api_key (None): the token clients must send (random by default)
        faults (None): fault knobs, e.g. ``{"rate_limit": 0.1}``
        seed (0): the fault-injection seed
        max_calls (None): calls allowed per window (Picsellia documents no
            rate limit), ``None`` for no budget
        window_seconds (60): the budget's window
        enforce_limit (True): answer calls over the budget with 429
        organization ("emulator"), username ("emulator-user"): the token's
            organization (the default one) and user
        processing_reads (1): reads of ``GET /api/data/{id}`` before a new
            data is DONE (0: DONE at once)
        job_reads (1): reads of ``GET /api/job/{id}`` before an add-data job
            succeeds and its assets appear (0: at once)
        host ("127.0.0.1"), port (0): where to listen
    """

    def __init__(
        self,
        api_key: str | None = None,
        faults: Mapping[str, Any] | None = None,
        seed: int = 0,
        max_calls: int | None = None,
        window_seconds: float = 60,
        enforce_limit: bool = True,
        organization: str = "emulator",
        username: str = "emulator-user",
        processing_reads: int = 1,
        job_reads: int = 1,
        host: str = "127.0.0.1",
        port: int = 0,
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
        if processing_reads < 0 or job_reads < 0:
            raise ValueError("processing_reads and job_reads must be >= 0")
        self.state = PicselliaState(organization, username, processing_reads=processing_reads, job_reads=job_reads)

    def start(self) -> Self:
        super().start()
        self.state.base_url = self.base_url
        return self

    @property
    def organization_id(self) -> str:
        """The id of the (default) organization."""
        return self.state.org_id

    def clear(self) -> None:
        """Forgets every object, data, dataset, asset and annotation."""
        with self.state.lock:
            self.state.clear()

    def control(self, request: Request, name: str) -> Response | None:
        """``POST /_emulator/clear`` forgets everything but the organization."""
        if name == "clear" and request.method == "POST":
            self.clear()
            return json_response(200, {"cleared": True})
        return None

    # -- HTTP --------------------------------------------------------------------------------

    def classify(self, request: Request) -> Call:
        if request.path.startswith(API_PREFIX):
            match = _match(request.method, request.path[len(API_PREFIX) :])
            request.cache["route"] = match
            if match is not None:
                return Call([match[0]], mutation=request.method not in ("GET", "XGET"))
        elif request.path.startswith(STORAGE_PREFIX) and request.method in ("GET", "POST", "PUT"):
            return Call(["%s storage" % request.method], mutation=request.method != "GET", limited=False)
        return Call(["other"], faultable=False, limited=False)

    def handle(self, request: Request, call: Call) -> Response:
        try:
            if request.path.startswith(STORAGE_PREFIX) and call.operations != ("other",):
                return self._storage(request)
            if not request.path.startswith(API_PREFIX):
                raise not_found("route", "%s %s" % (request.method, request.path))
            if bearer_token(request.headers) != self.api_key:
                raise PicselliaError(401, "Unauthorized", "a valid 'Authorization: Bearer <token>' header is needed")
            match = request.cache.get("route")
            if match is None:
                raise not_found("route", "%s %s" % (request.method, request.path))
            _, handler, ids = match
            body = None
            if request.method != "GET" and request.body:
                try:
                    body = request.json()
                except ValueError:
                    raise bad_request("the body is not valid JSON") from None
            with self.state.lock:
                result = getattr(self, handler)(request, body, *ids)
        except PicselliaError as e:
            return json_response(e.status, {"message": e.message, "detail": e.detail})
        if result is DELETED:
            return Response(204, b"", content_type=None)
        return json_response(200, result)

    def _storage(self, request: Request) -> Response:
        rest = request.path[len(STORAGE_PREFIX) :]
        signature = query_value(request.query, "signature") or ""
        state = self.state
        if request.method == "POST" and rest == "":
            fields, content = parse_multipart(request.headers.get("Content-Type") or "", request.body)
            with state.lock:
                state.store_post(fields, content)
            return Response(204, b"", content_type=None)
        parts = rest.split("/")
        if request.method == "PUT" and len(parts) == 3 and parts[0] == "parts" and parts[2].isdigit():
            with state.lock:
                etag = state.store_part(parts[1], int(parts[2]), signature, request.body)
            return Response(200, b"", headers={"ETag": etag}, content_type=None)
        if request.method == "GET" and parts[0] == "object":
            with state.lock:
                content = state.object_bytes(unquote(rest[len("object/") :]), signature)
            return Response(200, content, content_type="application/octet-stream")
        raise not_found("storage path", request.path)

    # -- handlers (request, body, *ids) -> result ---------------------------------------------

    def _org(self, org_id: str) -> None:
        self.state.organization(org_id)

    def _ping(self, request: Request, body: Json) -> dict[str, Any]:
        return self.state.ping()

    def _find_organization(self, request: Request, body: Json) -> dict[str, Any]:
        return self.state.organization(name=query_value(request.query, "name") or "")

    def _organization(self, request: Request, body: Json, org_id: str) -> dict[str, Any]:
        return self.state.organization(org_id)

    def _datalake(self, request: Request, body: Json, org_id: str) -> dict[str, Any]:
        self._org(org_id)
        return self.state.datalake()

    def _users(self, request: Request, body: Json, org_id: str) -> dict[str, Any]:
        self._org(org_id)
        return self.state.users()

    def _object_name(self, request: Request, body: Json, org_id: str, connector_id: str) -> dict[str, str]:
        self._org(org_id)
        self.state.check_connector(connector_id)
        return self.state.generate_object_name(body)

    def _presigned(self, request: Request, body: Json, connector_id: str) -> dict[str, Any]:
        self.state.check_connector(connector_id)
        return self.state.presigned_post(body)

    def _init_multipart(self, request: Request, body: Json, connector_id: str) -> dict[str, str]:
        self.state.check_connector(connector_id)
        return self.state.init_multipart(body)

    def _part_url(self, request: Request, body: Json, connector_id: str) -> dict[str, str]:
        self.state.check_connector(connector_id)
        return self.state.part_url(body)

    def _complete_multipart(self, request: Request, body: Json, connector_id: str) -> dict[str, str]:
        self.state.check_connector(connector_id)
        return self.state.complete_multipart(body)

    def _create_data(self, request: Request, body: Json, datalake_id: str) -> dict[str, Any]:
        return self.state.create_data(datalake_id, body)

    def _list_values(self, request: Request, body: Json) -> tuple[dict[str, Any], Json]:
        """The list filters (query, or XGET body) and the XGET body."""
        values: dict[str, Any] = dict(request.query)
        if request.method != "XGET":
            return values, None
        if not isinstance(body, dict):
            raise bad_request("an XGET body must be a JSON object")
        for key in ("upload_statuses", "types"):
            if key in body:
                values[key] = body[key]
        return values, body

    def _list_datas(self, request: Request, body: Json, datalake_id: str) -> dict[str, Any]:
        self.state.datalake(datalake_id)
        values, xget = self._list_values(request, body)
        datas = sorted(self.state.datas.values(), key=lambda d: d["_seq"])
        selected = self.state.select_datas(datas, values, xget)
        return paginate([self.state.public_data(d) for d in selected], request.query)

    def _data(self, request: Request, body: Json, data_id: str) -> dict[str, Any]:
        return self.state.read_data(data_id)

    def _delete_datas(self, request: Request, body: Json, datalake_id: str) -> Deleted:
        self.state.datalake(datalake_id)
        self.state.delete_datas(body)
        return DELETED

    def _delete_data(self, request: Request, body: Json, data_id: str) -> Deleted:
        self.state.delete_datas({"ids": [data_id]})
        return DELETED

    def _dataset(self, request: Request, body: Json, dataset_id: str) -> dict[str, Any]:
        return dict(self.state.dataset(dataset_id))

    def _delete_dataset(self, request: Request, body: Json, dataset_id: str) -> Deleted:
        self.state.delete_dataset(dataset_id)
        return DELETED

    def _list_versions(self, request: Request, body: Json, dataset_id: str) -> dict[str, Any]:
        return paginate(self.state.list_versions(dataset_id), request.query)

    def _create_dataset(self, request: Request, body: Json, org_id: str) -> dict[str, Any]:
        self._org(org_id)
        return self.state.create_dataset(body)

    def _find_dataset(self, request: Request, body: Json, org_id: str) -> dict[str, Any]:
        self._org(org_id)
        name, ident = query_value(request.query, "name"), query_value(request.query, "id")
        if name is None and ident is None:
            raise bad_request("give name or id")
        return dict(self.state.dataset(dataset_id=ident, name=name))

    def _find_version_by_id(self, request: Request, body: Json, org_id: str) -> dict[str, Any]:
        self._org(org_id)
        ident = query_value(request.query, "id")
        if not ident:
            raise bad_request("give id")
        return public(self.state.version(ident))

    def _create_version(self, request: Request, body: Json, dataset_id: str) -> dict[str, Any]:
        return self.state.create_version(dataset_id, body)

    def _find_version(self, request: Request, body: Json, dataset_id: str) -> dict[str, Any]:
        return self.state.find_version(dataset_id, query_value(request.query, "version"))

    def _version(self, request: Request, body: Json, version_id: str) -> dict[str, Any]:
        return {k: v for k, v in self.state.version(version_id).items() if not k.startswith("_")}

    def _update_version(self, request: Request, body: Json, version_id: str) -> dict[str, Any]:
        return self.state.update_version(version_id, body)

    def _delete_version(self, request: Request, body: Json, version_id: str) -> Deleted:
        self.state.delete_version(version_id)
        return DELETED

    def _create_label(self, request: Request, body: Json, version_id: str) -> dict[str, str]:
        return self.state.create_label(version_id, body)

    def _list_labels(self, request: Request, body: Json, version_id: str) -> dict[str, Any]:
        return self.state.list_labels(version_id)

    def _find_label(self, request: Request, body: Json, version_id: str) -> dict[str, str]:
        name = query_value(request.query, "name")
        for label_id, label_name in self.state.version(version_id)["_labels"].items():
            if label_name == name:
                return {"id": label_id, "name": label_name}
        raise not_found("label", name)

    def _label_groups(self, request: Request, body: Json, version_id: str) -> dict[str, Any]:
        self.state.version(version_id)
        return {"items": [], "count": 0}  # label groups are not implemented: there are none

    def _set_attributes(self, request: Request, body: Json, version_id: str) -> dict[str, Any]:
        return self.state.set_attributes(version_id, body)

    def _get_attributes(self, request: Request, body: Json, version_id: str) -> dict[str, Any]:
        return self.state.get_attributes(version_id)

    def _bulk_labels(self, request: Request, body: Json, version_id: str) -> list[dict[str, str]]:
        return self.state.bulk_labels(version_id, body)

    def _add_data(self, request: Request, body: Json, version_id: str) -> dict[str, Any]:
        return self.state.add_data(version_id, body)

    def _list_assets(self, request: Request, body: Json, version_id: str) -> dict[str, Any]:
        values, xget = self._list_values(request, body)
        return paginate(self.state.select_assets(version_id, values, xget), request.query)

    def _find_asset(self, request: Request, body: Json, version_id: str) -> dict[str, Any]:
        return self.state.find_asset(version_id, request.query)

    def _delete_assets(self, request: Request, body: Json, version_id: str) -> Deleted:
        if not isinstance(body, dict) or set(body) != {"ids"}:
            raise bad_request('the body must be {"ids": [...]}')
        ids = body["ids"]
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise bad_request("ids must be a list of asset ids")
        self.state.delete_assets(version_id, ids)
        return DELETED

    def _job(self, request: Request, body: Json, job_id: str) -> dict[str, str]:
        return self.state.read_job(job_id)

    def _create_annotation(self, request: Request, body: Json, asset_id: str) -> dict[str, Any]:
        return self.state.create_annotation(asset_id, body)

    def _add_shapes(self, request: Request, body: Json, annotation_id: str) -> dict[str, Any]:
        kind = SHAPE_OF_ROUTE[request.path.rstrip("/").rsplit("/", 1)[1]]
        return self.state.add_shapes(annotation_id, kind, body)

    def _asset_annotations(self, request: Request, body: Json, asset_id: str) -> dict[str, Any]:
        self.state.asset(asset_id)
        found = sorted(
            (a for a in self.state.annotations.values() if a["asset_id"] == asset_id), key=lambda a: a["_seq"]
        )
        return {"items": [public_annotation(a) for a in found], "count": len(found)}

    def _asset_annotation(self, request: Request, body: Json, asset_id: str) -> dict[str, Any]:
        self.state.asset(asset_id)
        latest = self.state.latest(asset_id)
        if latest is None:
            raise not_found("annotation of asset", asset_id)
        return public_annotation(latest)

    def _annotation(self, request: Request, body: Json, annotation_id: str) -> dict[str, Any]:
        return public_annotation(self.state.annotation(annotation_id))

    def _delete_annotation(self, request: Request, body: Json, annotation_id: str) -> Deleted:
        self.state.delete_annotation(annotation_id)
        return DELETED

    def _shapes_of(self, request: Request, body: Json, annotation_id: str) -> dict[str, Any]:
        return self.state.shapes_of(annotation_id, request.path.rstrip("/").rsplit("/", 1)[1])

    def _shape(self, request: Request, body: Json, shape_id: str) -> dict[str, Any]:
        return self.state.read_shape(_shape_kind(request), shape_id)

    def _update_shape(self, request: Request, body: Json, shape_id: str) -> dict[str, Any]:
        return self.state.update_shape(_shape_kind(request), shape_id, body)

    def _delete_shape(self, request: Request, body: Json, shape_id: str) -> Deleted:
        self.state.delete_shape(_shape_kind(request), shape_id)
        return DELETED

    def _save(self, request: Request, body: Json, annotation_id: str) -> dict[str, Any]:
        return self.state.save(annotation_id, body)

    def _update_annotation(self, request: Request, body: Json, annotation_id: str) -> dict[str, Any]:
        return self.state.update_annotation(annotation_id, body)

    def _bulk_import(self, request: Request, body: Json, version_id: str) -> dict[str, Any]:
        return self.state.bulk_import(version_id, body)

    def _list_annotations(self, request: Request, body: Json, version_id: str) -> dict[str, Any]:
        return self.state.list_annotations(version_id, request.query)

    def _annotation_ids(self, request: Request, body: Json, version_id: str) -> list[str]:
        return self.state.annotation_ids(version_id, request.query)

    def _load_annotations(self, request: Request, body: Json, version_id: str) -> list[dict[str, Any]]:
        return self.state.load(version_id, body)

    def _delete_annotations(self, request: Request, body: Json, version_id: str) -> Deleted:
        self.state.delete_annotations(version_id, body)
        return DELETED

    def _create_campaign(self, request: Request, body: Json, version_id: str) -> dict[str, Any]:
        return self.state.create_campaign(version_id, body)

    def _campaign(self, request: Request, body: Json, campaign_id: str) -> dict[str, Any]:
        return dict(self.state.campaign(campaign_id))

    def _update_campaign(self, request: Request, body: Json, campaign_id: str) -> dict[str, Any]:
        return self.state.update_campaign(campaign_id, body)

    def _delete_campaign(self, request: Request, body: Json, campaign_id: str) -> Deleted:
        self.state.delete_campaign(campaign_id)
        return DELETED

    def _close_campaign(self, request: Request, body: Json, campaign_id: str) -> dict[str, Any]:
        return self.state.close_campaign(campaign_id)

    def _create_step(self, request: Request, body: Json, campaign_id: str) -> dict[str, Any]:
        return self.state.create_step(campaign_id, body)

    def _list_steps(self, request: Request, body: Json, campaign_id: str) -> dict[str, Any]:
        return paginate(self.state.list_steps(campaign_id), request.query)

    def _sync_available(self, request: Request, body: Json, campaign_id: str) -> dict[str, Any]:
        return self.state.sync_available(campaign_id)

    def _sync(self, request: Request, body: Json, campaign_id: str) -> dict[str, Any]:
        return self.state.sync(campaign_id, body)

    def _list_assignments(self, request: Request, body: Json, campaign_id: str) -> dict[str, Any]:
        return paginate(self.state.list_assignments(campaign_id, request.query), request.query)

    def _job_v2(self, request: Request, body: Json, job_id: str) -> dict[str, str]:
        return self.state.read_job_v2(job_id)


__all__ = ["OPERATIONS", "PicselliaEmulator", "bearer_token"]
