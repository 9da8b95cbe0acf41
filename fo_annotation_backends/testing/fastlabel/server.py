"""The FastLabel emulator: FastLabel's REST API (``/v1/``) on 127.0.0.1.

The URL clients are given is ``http://127.0.0.1:PORT/v1/`` (what the
official SDK reads from ``FASTLABEL_API_URL``; it appends paths to it).

Transport (as the service and its SDK 0.26.0):

- every ``/v1/`` request needs ``Authorization: Bearer <key>``, GET and
  DELETE included; otherwise HTTP 401 ``{"message": ...}``
- bodies are JSON; errors are ``{"message": ...}`` with a 4xx code (400 bad
  input, 401, 404 unknown id/slug/path, 409 duplicate slug/value/task name)
  or 5xx; successes are 200, never 201: a create answers the new id as a
  bare JSON string, a count a bare JSON integer, a PUT the updated object,
  a DELETE ``delete_status`` (204 by default, or 200) with an empty body
- unknown body fields are refused (400) rather than ignored, so that a
  misspelt field does not pass silently; the fields the SDK sends and the
  emulator does not implement (``relations``, ``workflowNUser``, custom
  workflow statuses) are refused with a message saying so

Endpoints (relative to ``/v1/``; ``project`` is a project **slug**, ids are
UUID strings; lists are in creation order with ``offset``/``limit``, limit
1-1000, default 100 — 10 for classes, 20 for users — and ``[]`` past the end)::

    POST   projects                         {type, name, slug, workflow?, externalWorkflow?, jobSize?, isPixel?} -> id
    GET    projects?slug=&offset=&limit=    list
    GET    projects/map/id-slug             {id: slug}
    GET    projects/{id}                    object
    PUT    projects/{id}                    {name?, slug?, jobSize?, workflow?, externalWorkflow?} -> object
    DELETE projects/{id}                    its classes and tasks go with it
    POST   annotations                      {project, type, value, title, color?, order?, attributes?,
                                             maxAreaCount? (segmentation), keypoints? (pose_estimation)} -> id
    POST   annotations/classification       {project, attributes} -> id (the class of value "classification")
    GET    annotations?project=&value=&offset=&limit=
    GET    annotations/{id}
    PUT    annotations/{id}                 {value?, title?, color?, order?, attributes?, maxAreaCount?} -> object
    PUT    annotations/classification/{id}  {attributes} -> object
    DELETE annotations/{id}                 the tasks' annotations of the class go with it
    POST   tasks/image                      {project, name, file, annotations?, tags?, status?, externalStatus?,
                                             priority?, metadatas?, assignee?, reviewer?, approver?, ...} -> id
    GET    tasks/image?project=&status=&externalStatus=&tags=&tags=&taskName=&offset=&limit=
    GET    tasks/image/{id}
    PUT    tasks/image/{id}                 {status?, externalStatus?, priority?, tags?, annotations?, metadatas?,
                                             assignee?, ...} -> task
    POST   tasks/image/classification       {project, name, file, attributes?, tags?, ...} -> id
    GET    tasks/image/classification?...   as tasks/image
    GET    tasks/image/classification/{id}
    PUT    tasks/image/classification/{id}  {status?, ..., attributes?} -> task
    POST   tasks/video                      {project, name, file (base64 H.264 MP4), annotations?, tags?, status?,
                                             externalStatus?, priority?, metadatas?, assignee?, ...} -> id
    GET    tasks/video?...                  as tasks/image, but limit 1-10 (default 10)
    GET    tasks/video/{id}
    PUT    tasks/video/{id}                 {status?, ..., annotations?} -> task
    POST   tasks/video/classification       {project, name, file, attributes?, tags?, ...} -> id
    GET    tasks/video/classification?...   as tasks/image
    GET    tasks/video/classification/{id}
    PUT    tasks/video/classification/{id}  {status?, ..., attributes?} -> task
    PUT    tasks/{id}                       {status?, externalStatus?, priority?, tags?, metadatas?, assignee?, ...}
    DELETE tasks/{id}
    DELETE tasks/{id}/task-annotations      empties annotations (classification tasks: attributes)
    GET    tasks/count?project=&status=&externalStatus=&tags=    bare integer
    GET    tasks/map/id-name?project=&offset=&limit=             {id: name}
    POST   tasks/tags/add | tasks/tags/remove {project, taskIds (<= 5000), tags (<= 20)} -> {"updatedTaskCount": n}
    GET    workspaces-users?keyword=&offset=&limit=
    POST   workspaces-users/internal-users  {name, email, language, role} -> user
    PUT    workspaces-users/internal-users  {email, role} (role "none" removes) -> user
    GET    /storage/<projectId>/<taskId>/<name>?...&X-Goog-Signature=...   a task's image (the task's url)

Semantics where the public documentation is silent (choices of the
emulator; a client should not depend on the ones marked "choice"):

- ``tags`` filters (repeated parameters, at most 10): a task matches when it
  has **all** the tags given (choice; ``tags_match="any"``: one of them)
- task names are unique per project: a duplicate is 409 (choice of code); a task name must
  end in .png, .jpg or .jpeg and ``file`` must be plain standard base64
  (no ``data:`` prefix, no line breaks) of a PNG or JPEG image of at most
  ``max_file_bytes`` that Pillow decodes; ``width``/``height`` come from it
- ``image_all`` projects accept classes of every type, ``classification``
  included (a task annotation ``{"type": "classification", "value",
  "attributes"}`` without points); other image projects accept their own
  type only; ``image_classification`` projects take their class from
  ``POST annotations/classification`` and their tasks from
  ``tasks/image/classification``; ``video_bbox`` projects take their
  tasks from ``tasks/video``, ``video_single_classification`` ones from
  ``tasks/video/classification`` (classes: ``POST annotations`` and ``POST
  annotations/classification``); sequential projects can be created but
  have no task endpoints here
- a video task's name must end in .mp4 and ``file`` is base64 of an MP4
  (an ``ftyp`` box) encoded with H.264, of at most ``max_video_bytes``
  (250 MiB, FastLabel's limit); PyAV decodes it: ``width``, ``height``,
  ``fps``, ``frameCount`` (decoded frames) and ``duration`` (seconds) come
  from it; the task's ``url`` serves it as ``video/mp4``
- a video annotation is a track: ``{"type": "bbox", "value", "attributes"?,
  "points": {"<frame>": {"value": [x1, y1, x2, y2], "autogenerated"}}}``,
  1-based frame keys within 1..frameCount, pixel corners inside the frame
  with x1 < x2 and y1 < y2, the first and last frame not autogenerated;
  the emulator keeps the keyframes (``autogenerated: false``) and answers
  every frame from the first keyframe to the last, the others interpolated
  linearly and ``autogenerated: true`` (choice: autogenerated frames sent
  are checked, then interpolated again); ``content`` (the SDK sends it) is
  accepted and ignored; ids are kept across PUTs as for image tasks
- annotation ids: the server gives every annotation it creates a new id;
  on ``PUT tasks/image/{id}`` the list replaces the task's annotations, an
  entry whose ``id`` is one of that task's annotations keeps it (the web
  editor's edit in place), any other entry gets a new id. The official SDK
  strips ``id`` from what it sends, so through it every PUT gives new ids.
- ``assignee`` and the other user fields take a workspace user's slug
  (``GET workspaces-users``); tasks answer the user's name, or null
- the image URL of a task works with its signature (no key) or with the
  Bearer key; fetching it is not counted in the call budget
- a task lists its annotations in creation order (choice; the service does
  not document one; ``annotation_order="reversed"`` lists them backwards,
  so that a client can show it does not depend on the order)

Faults, the call budget (10,000 calls per 600 s by default, as FastLabel
documents: 429 with ``Retry-After`` and a ``message``) and the control
endpoints come from :mod:`fo_annotation_backends.testing.emulator_base`;
operations are named by method and path template, e.g. ``"POST
tasks/image"``, ``"GET tasks/image/{id}"``, ``"GET storage"``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

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
from .formats import FastLabelError, Json, decode_image, require_dict
from .formats_video import DEFAULT_MAX_VIDEO_BYTES, VIDEO_CONTENT_TYPE, decode_video
from .state import FastLabelState
from .state_tasks import (
    IMAGE,
    IMAGE_CLASSIFICATION,
    SIGNATURE_PARAM,
    STORAGE_PREFIX,
    VIDEO,
    VIDEO_CLASSIFICATION,
    TaskKind,
)

if TYPE_CHECKING:
    from typing_extensions import Self

logger = logging.getLogger(__name__)

API_PREFIX = "/v1/"
DEFAULT_MAX_FILE_BYTES = 20 * 1024 * 1024
DEFAULT_ADMIN_EMAIL = "emulator-admin@fastlabel.local"
ANNOTATION_ORDERS = ("created", "reversed")

#: (method, path template, handler); the first match wins, so literal paths
#: come before the templates they would also match
ROUTES = (
    ("POST", "projects", "_create_project"),
    ("GET", "projects", "_list_projects"),
    ("GET", "projects/map/id-slug", "_project_id_slug_map"),
    ("GET", "projects/{id}", "_find_project"),
    ("PUT", "projects/{id}", "_update_project"),
    ("DELETE", "projects/{id}", "_delete_project"),
    ("POST", "annotations", "_create_class"),
    ("POST", "annotations/classification", "_create_classification_class"),
    ("GET", "annotations", "_list_classes"),
    ("GET", "annotations/{id}", "_find_class"),
    ("PUT", "annotations/classification/{id}", "_update_classification_class"),
    ("PUT", "annotations/{id}", "_update_class"),
    ("DELETE", "annotations/{id}", "_delete_class"),
    ("POST", "tasks/image", "_create_image_task"),
    ("GET", "tasks/image", "_list_image_tasks"),
    ("POST", "tasks/image/classification", "_create_classification_task"),
    ("GET", "tasks/image/classification", "_list_classification_tasks"),
    ("GET", "tasks/image/classification/{id}", "_find_classification_task"),
    ("PUT", "tasks/image/classification/{id}", "_update_classification_task"),
    ("GET", "tasks/image/{id}", "_find_image_task"),
    ("PUT", "tasks/image/{id}", "_update_image_task"),
    ("POST", "tasks/video", "_create_video_task"),
    ("GET", "tasks/video", "_list_video_tasks"),
    ("POST", "tasks/video/classification", "_create_video_classification_task"),
    ("GET", "tasks/video/classification", "_list_video_classification_tasks"),
    ("GET", "tasks/video/classification/{id}", "_find_video_classification_task"),
    ("PUT", "tasks/video/classification/{id}", "_update_video_classification_task"),
    ("GET", "tasks/video/{id}", "_find_video_task"),
    ("PUT", "tasks/video/{id}", "_update_video_task"),
    ("GET", "tasks/count", "_count_tasks"),
    ("GET", "tasks/map/id-name", "_task_id_name_map"),
    ("POST", "tasks/tags/add", "_add_tags"),
    ("POST", "tasks/tags/remove", "_remove_tags"),
    ("PUT", "tasks/{id}", "_update_task"),
    ("DELETE", "tasks/{id}", "_delete_task"),
    ("DELETE", "tasks/{id}/task-annotations", "_delete_task_annotations"),
    ("GET", "workspaces-users", "_list_users"),
    ("POST", "workspaces-users/internal-users", "_create_user"),
    ("PUT", "workspaces-users/internal-users", "_update_user"),
)

#: every operation name the emulator counts
OPERATIONS = tuple("%s %s" % (method, template) for method, template, _ in ROUTES) + ("GET storage", "other")


def _match(method: str, path: str) -> tuple[str, str, list[str]] | None:
    """``(operation, handler name, ids)`` of a path relative to ``/v1/``."""
    match = match_route(ROUTES, method, path)
    if match is None:
        return None
    template, handler, ids = match
    return "%s %s" % (method, template), handler, ids


class FastLabelEmulator(EmulatorServer):
    """A local emulator of FastLabel's REST API, for tests and offline
    pipelines.

    It speaks FastLabel's REST protocol well enough for the official
    ``fastlabel`` SDK 0.26.0: projects, annotation classes, image, video
    and their classification tasks with their images and videos, tags, counts, workspace users,
    plus the faults and call budget of
    :class:`~fo_annotation_backends.testing.emulator_base.EmulatorServer`.
    The module docstring lists the endpoints and semantics.

    Example::

        with FastLabelEmulator(api_key="key") as fastlabel:
            os.environ.update(FASTLABEL_API_URL=fastlabel.url, FASTLABEL_ACCESS_TOKEN="key")
            client = fastlabel_sdk.Client()

    Args:
        api_key (None): the access token clients must send (random by default)
        faults (None): fault knobs, e.g. ``{"rate_limit": 0.1}``
        seed (0): the fault-injection seed
        max_calls (10000): calls allowed per window (FastLabel's documented
            limit), ``None`` for no budget
        window_seconds (600): the budget's window
        enforce_limit (True): answer calls over the budget with 429 (else
            only count them)
        max_file_bytes (20 MiB): the largest image a task accepts
        max_video_bytes (250 MiB): the largest video a task accepts
        tags_match ("all"): how ``tags`` filters match: ``"all"`` (a task has
            every tag given) or ``"any"``
        delete_status (204): the status of a successful DELETE, 204 or 200
            (both with an empty body; the SDK accepts both)
        annotation_order ("created"): the order in which image tasks list
            their annotations: ``"created"`` or ``"reversed"``
        host ("127.0.0.1"): the address to bind
        port (0): the port (0: a free one)
        admin_name ("Emulator Admin"), admin_email: the workspace user who
            owns the key (slug ``emulator-admin``)
    """

    client_path = API_PREFIX

    def __init__(
        self,
        api_key: str | None = None,
        faults: Mapping[str, Any] | None = None,
        seed: int = 0,
        max_calls: int | None = 10000,
        window_seconds: float = 600,
        enforce_limit: bool = True,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        max_video_bytes: int = DEFAULT_MAX_VIDEO_BYTES,
        tags_match: str = "all",
        delete_status: int = 204,
        annotation_order: str = "created",
        host: str = "127.0.0.1",
        port: int = 0,
        admin_name: str = "Emulator Admin",
        admin_email: str = DEFAULT_ADMIN_EMAIL,
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
        if int(max_file_bytes) < 1 or int(max_video_bytes) < 1:
            raise ValueError("max_file_bytes and max_video_bytes must be >= 1")
        if delete_status not in (200, 204):
            raise ValueError("delete_status must be 200 or 204")
        if annotation_order not in ANNOTATION_ORDERS:
            raise ValueError("annotation_order must be one of %s" % ", ".join(ANNOTATION_ORDERS))
        self.annotation_order = annotation_order
        self.max_file_bytes = int(max_file_bytes)
        self.max_video_bytes = int(max_video_bytes)
        self.delete_status = delete_status
        try:
            self.state = FastLabelState(tags_match=tags_match)
        except FastLabelError as e:
            raise ValueError(e.message) from None
        self.admin = self.state.public_user(
            self.state.add_user(admin_name, admin_email, role="owner", slug="emulator-admin")
        )

    def start(self) -> Self:
        super().start()
        self.state.base_url = self.base_url
        return self

    # -- Python helpers (tests) ------------------------------------------------------------

    def add_user(
        self, name: str | None, email: str | None, role: str = "member", slug: str | None = None
    ) -> dict[str, Any]:
        """Adds a workspace user (a possible ``assignee``); returns it as
        ``GET workspaces-users`` does (``userSlug`` is what tasks take)."""
        with self.state.lock:
            try:
                return self.state.public_user(self.state.add_user(name, email, role=role, slug=slug))
            except FastLabelError as e:
                raise ValueError(e.message) from None

    def clear(self) -> None:
        """Forgets every project, class, task and image (users stay)."""
        with self.state.lock:
            self.state.clear()

    # -- HTTP --------------------------------------------------------------------------------

    def classify(self, request: Request) -> Call:
        if request.path.startswith(API_PREFIX):
            match = _match(request.method, request.path[len(API_PREFIX) :])
            request.cache["route"] = match
            if match is not None:
                return Call([match[0]], mutation=request.method != "GET")
        elif request.path.startswith(STORAGE_PREFIX) and request.method in ("GET", "HEAD"):
            return Call(["GET storage"], limited=False)
        return Call(["other"], faultable=False, limited=False)

    def handle(self, request: Request, call: Call) -> Response:
        if call.operations == ("GET storage",):
            return self._image(request)
        if not request.path.startswith(API_PREFIX):
            return _error(404, "Cannot %s %s" % (request.method, request.path))
        if bearer_token(request.headers) != self.api_key:
            return _error(401, "Unauthorized: a valid 'Authorization: Bearer <access token>' header is required")
        match = request.cache.get("route")
        if match is None:
            return _error(404, "Cannot %s %s" % (request.method, request.path))
        _, handler, ids = match
        try:
            body = None
            if request.method in ("POST", "PUT"):
                try:
                    body = request.json()
                except ValueError:
                    raise FastLabelError("the body is not valid JSON") from None
            result = getattr(self, handler)(request, body, *ids)
        except FastLabelError as e:
            return _error(e.status, e.message)
        if result is DELETED:
            return Response(self.delete_status, b"", content_type=None)
        return json_response(200, result)

    def control(self, request: Request, name: str) -> Response | None:
        """``POST /_emulator/clear`` forgets every project; ``POST
        /_emulator/users`` ``{"name", "email", "role"?, "slug"?}`` adds a
        workspace user."""
        if name == "clear" and request.method == "POST":
            self.clear()
            return json_response(200, {"cleared": True})
        if name == "users" and request.method == "POST":
            body = request.json() or {}
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            user = self.add_user(body.get("name"), body.get("email"), body.get("role", "member"), body.get("slug"))
            return json_response(200, user)
        return None

    def _image(self, request: Request) -> Response:
        signature = (request.query.get(SIGNATURE_PARAM) or [""])[-1]
        with self.state.lock:
            found = self.state.image_of(request.path, signature)
        if found is None:
            return _error(404, "no image at %s" % request.path)
        task, signature_ok = found
        if not signature_ok and bearer_token(request.headers) != self.api_key:
            return _error(403, "a valid signature or the Bearer access token is needed")
        return Response(200, task["_content"], content_type=task["_content_type"])

    # -- handlers (request, body, *ids) -> result, or DELETED ---------------------------------

    def _create_project(self, request: Request, body: Json) -> str:
        with self.state.lock:
            return self.state.create_project(body)

    def _list_projects(self, request: Request, body: Json) -> list[dict[str, Any]]:
        with self.state.lock:
            return self.state.list_projects(request.query)

    def _project_id_slug_map(self, request: Request, body: Json) -> dict[str, str]:
        with self.state.lock:
            return self.state.id_slug_map(request.query)

    def _find_project(self, request: Request, body: Json, project_id: str) -> dict[str, Any]:
        with self.state.lock:
            return dict((k, v) for k, v in self.state.project(project_id).items() if not k.startswith("_"))

    def _update_project(self, request: Request, body: Json, project_id: str) -> dict[str, Any]:
        with self.state.lock:
            return self.state.update_project(project_id, body)

    def _delete_project(self, request: Request, body: Json, project_id: str) -> Deleted:
        with self.state.lock:
            self.state.delete_project(project_id)
        return DELETED

    def _create_class(self, request: Request, body: Json) -> str:
        with self.state.lock:
            return self.state.create_class(body)

    def _create_classification_class(self, request: Request, body: Json) -> str:
        with self.state.lock:
            return self.state.create_classification_class(body)

    def _list_classes(self, request: Request, body: Json) -> list[dict[str, Any]]:
        with self.state.lock:
            return self.state.list_classes(request.query)

    def _find_class(self, request: Request, body: Json, class_id: str) -> dict[str, Any]:
        with self.state.lock:
            return self.state.public_class(self.state.annotation_class(class_id))

    def _update_class(self, request: Request, body: Json, class_id: str) -> dict[str, Any]:
        with self.state.lock:
            return self.state.update_class(class_id, body)

    def _update_classification_class(self, request: Request, body: Json, class_id: str) -> dict[str, Any]:
        with self.state.lock:
            return self.state.update_class(class_id, body, classification=True)

    def _delete_class(self, request: Request, body: Json, class_id: str) -> Deleted:
        with self.state.lock:
            self.state.delete_class(class_id)
        return DELETED

    def _create_task(self, body: Json, kind: TaskKind) -> str:
        require_dict(body)
        # decoded before taking the lock: a big image or video does not hold others up
        media: dict[str, Any]
        if kind in (VIDEO, VIDEO_CLASSIFICATION):
            video = decode_video(body.get("name"), body.get("file"), self.max_video_bytes)
            media = {
                "width": video.width,
                "height": video.height,
                "fps": video.fps,
                "frameCount": video.frame_count,
                "duration": video.duration,
                "_content": video.data,
                "_content_type": VIDEO_CONTENT_TYPE,
            }
        else:
            data, width, height, content_type = decode_image(body.get("name"), body.get("file"), self.max_file_bytes)
            media = {"width": width, "height": height, "_content": data, "_content_type": content_type}
        with self.state.lock:
            return self.state.create_task(kind, body, media)

    def _create_image_task(self, request: Request, body: Json) -> str:
        return self._create_task(body, IMAGE)

    def _create_classification_task(self, request: Request, body: Json) -> str:
        return self._create_task(body, IMAGE_CLASSIFICATION)

    def _create_video_task(self, request: Request, body: Json) -> str:
        return self._create_task(body, VIDEO)

    def _create_video_classification_task(self, request: Request, body: Json) -> str:
        return self._create_task(body, VIDEO_CLASSIFICATION)

    def _list_video_tasks(self, request: Request, body: Json) -> list[dict[str, Any]]:
        with self.state.lock:
            return [self._ordered(t) for t in self.state.list_tasks(VIDEO, request.query)]

    def _list_video_classification_tasks(self, request: Request, body: Json) -> list[dict[str, Any]]:
        with self.state.lock:
            return self.state.list_tasks(VIDEO_CLASSIFICATION, request.query)

    def _find_video_task(self, request: Request, body: Json, task_id: str) -> dict[str, Any]:
        with self.state.lock:
            return self._ordered(self.state.public_task(self.state.task(task_id, VIDEO)))

    def _find_video_classification_task(self, request: Request, body: Json, task_id: str) -> dict[str, Any]:
        with self.state.lock:
            return self.state.public_task(self.state.task(task_id, VIDEO_CLASSIFICATION))

    def _update_video_task(self, request: Request, body: Json, task_id: str) -> dict[str, Any]:
        with self.state.lock:
            return self._ordered(self.state.update_task(task_id, body, VIDEO))

    def _update_video_classification_task(self, request: Request, body: Json, task_id: str) -> dict[str, Any]:
        with self.state.lock:
            return self.state.update_task(task_id, body, VIDEO_CLASSIFICATION)

    def _ordered(self, task: dict[str, Any]) -> dict[str, Any]:
        """An image or video task answer with its annotations in ``annotation_order``."""
        if self.annotation_order == "reversed":
            task["annotations"] = task["annotations"][::-1]
        return task

    def _list_image_tasks(self, request: Request, body: Json) -> list[dict[str, Any]]:
        with self.state.lock:
            return [self._ordered(t) for t in self.state.list_tasks(IMAGE, request.query)]

    def _list_classification_tasks(self, request: Request, body: Json) -> list[dict[str, Any]]:
        with self.state.lock:
            return self.state.list_tasks(IMAGE_CLASSIFICATION, request.query)

    def _find_image_task(self, request: Request, body: Json, task_id: str) -> dict[str, Any]:
        with self.state.lock:
            return self._ordered(self.state.public_task(self.state.task(task_id, IMAGE)))

    def _find_classification_task(self, request: Request, body: Json, task_id: str) -> dict[str, Any]:
        with self.state.lock:
            return self.state.public_task(self.state.task(task_id, IMAGE_CLASSIFICATION))

    def _update_image_task(self, request: Request, body: Json, task_id: str) -> dict[str, Any]:
        with self.state.lock:
            return self._ordered(self.state.update_task(task_id, body, IMAGE))

    def _update_classification_task(self, request: Request, body: Json, task_id: str) -> dict[str, Any]:
        with self.state.lock:
            return self.state.update_task(task_id, body, IMAGE_CLASSIFICATION)

    def _update_task(self, request: Request, body: Json, task_id: str) -> dict[str, Any]:
        with self.state.lock:
            return self.state.update_task(task_id, body)

    def _delete_task(self, request: Request, body: Json, task_id: str) -> Deleted:
        with self.state.lock:
            self.state.delete_task(task_id)
        return DELETED

    def _delete_task_annotations(self, request: Request, body: Json, task_id: str) -> Deleted:
        with self.state.lock:
            self.state.delete_task_annotations(task_id)
        return DELETED

    def _count_tasks(self, request: Request, body: Json) -> int:
        with self.state.lock:
            return self.state.count_tasks(request.query)

    def _task_id_name_map(self, request: Request, body: Json) -> dict[str, str]:
        with self.state.lock:
            return self.state.task_id_name_map(request.query)

    def _add_tags(self, request: Request, body: Json) -> dict[str, int]:
        with self.state.lock:
            return self.state.update_tags(body, add=True)

    def _remove_tags(self, request: Request, body: Json) -> dict[str, int]:
        with self.state.lock:
            return self.state.update_tags(body, add=False)

    def _list_users(self, request: Request, body: Json) -> list[dict[str, Any]]:
        with self.state.lock:
            return self.state.list_users(request.query)

    def _create_user(self, request: Request, body: Json) -> dict[str, Any]:
        with self.state.lock:
            return self.state.create_user(body)

    def _update_user(self, request: Request, body: Json) -> dict[str, Any]:
        with self.state.lock:
            return self.state.update_user(body)


def _error(status: int, message: str) -> Response:
    return json_response(status, {"message": message})


__all__ = ["FastLabelEmulator", "OPERATIONS", "bearer_token"]
