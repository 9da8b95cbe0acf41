"""The tasks of the FastLabel emulator's state and their images (a mixin of
:class:`~.state.FastLabelState`, which holds the lock, the users, projects
and classes these methods read).

Every method expects the caller to hold the state's lock, and checks a whole
request before it changes anything.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Container, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final, Literal
from urllib.parse import quote

from .formats import (
    CLASSIFICATION_VALUE,
    EXTERNAL_TASK_STATUSES,
    IMAGE_CLASSIFICATION_PROJECT_TYPES,
    IMAGE_PROJECT_TYPES,
    MAX_FILTER_TAGS,
    MAX_LIMIT,
    MAX_TAG_IDS,
    MAX_TAGS_PER_UPDATE,
    TASK_STATUSES,
    FastLabelError,
    Json,
    Query,
    Record,
    check_attribute_values,
    check_choice,
    check_keys,
    check_metadatas,
    check_points,
    check_pose_keypoints,
    check_priority,
    check_tags,
    is_number,
    new_id,
    paginate,
    public_fields,
    require_dict,
    str_param,
)
from .formats_video import (
    VIDEO_CLASSIFICATION_PROJECT_TYPES,
    VIDEO_PROJECT_TYPES,
    VIDEO_TASKS_LIMIT,
    check_track_points,
    public_track_points,
)

if TYPE_CHECKING:
    from ..emulator_base import Clock

#: task kinds: the endpoint family a task belongs to
TaskKind = Literal["image", "image_classification", "video", "video_classification"]
IMAGE: Final = "image"
IMAGE_CLASSIFICATION: Final = "image_classification"
VIDEO: Final = "video"
VIDEO_CLASSIFICATION: Final = "video_classification"
#: the kinds whose tasks carry annotations (the others: task-level attributes)
ANNOTATED_KINDS = (IMAGE, VIDEO)
CLASSIFICATION_KINDS = (IMAGE_CLASSIFICATION, VIDEO_CLASSIFICATION)
KIND_PROJECT_TYPES: dict[TaskKind, tuple[str, ...]] = {
    IMAGE: IMAGE_PROJECT_TYPES,
    IMAGE_CLASSIFICATION: IMAGE_CLASSIFICATION_PROJECT_TYPES,
    VIDEO: VIDEO_PROJECT_TYPES,
    VIDEO_CLASSIFICATION: VIDEO_CLASSIFICATION_PROJECT_TYPES,
}
KIND_PATHS: dict[TaskKind, str] = {
    IMAGE: "tasks/image",
    IMAGE_CLASSIFICATION: "tasks/image/classification",
    VIDEO: "tasks/video",
    VIDEO_CLASSIFICATION: "tasks/video/classification",
}
#: the default and largest page of each kind's task list
KIND_LIMITS: dict[TaskKind, tuple[int, int]] = {
    IMAGE: (100, MAX_LIMIT),
    IMAGE_CLASSIFICATION: (100, MAX_LIMIT),
    VIDEO: (VIDEO_TASKS_LIMIT, VIDEO_TASKS_LIMIT),
    VIDEO_CLASSIFICATION: (100, MAX_LIMIT),
}

STORAGE_PREFIX = "/storage/"
SIGNATURE_PARAM = "X-Goog-Signature"

#: the user fields of a task: body key -> answered key (the same)
USER_FIELDS = ("assignee", "reviewer", "approver", "externalAssignee", "externalReviewer", "externalApprover")
#: fields the SDK may send that the emulator refuses with a clear message
UNSUPPORTED_TASK_FIELDS = tuple("workflow%dUser" % i for i in range(1, 7)) + ("relations",)
TASK_COMMON_FIELDS = ("status", "externalStatus", "customTaskStatus", "priority", "tags", "metadatas") + USER_FIELDS
IMAGE_TASK_CREATE_FIELDS = ("project", "name", "file", "annotations", "isDeleteExif") + TASK_COMMON_FIELDS
CLASSIFICATION_TASK_CREATE_FIELDS = ("project", "name", "file", "attributes", "isDeleteExif") + TASK_COMMON_FIELDS
KIND_CREATE_FIELDS: dict[TaskKind, tuple[str, ...]] = {
    IMAGE: IMAGE_TASK_CREATE_FIELDS,
    IMAGE_CLASSIFICATION: CLASSIFICATION_TASK_CREATE_FIELDS,
    VIDEO: ("project", "name", "file", "annotations") + TASK_COMMON_FIELDS,
    VIDEO_CLASSIFICATION: ("project", "name", "file", "attributes") + TASK_COMMON_FIELDS,
}
VIDEO_ANNOTATION_FIELDS = ("id", "type", "value", "title", "color", "points", "attributes", "content")
ANNOTATION_FIELDS = (
    "id", "type", "value", "title", "color", "points", "rotation", "keypoints", "attributes", "confidenceScore", "content",
)  # fmt: skip


class TasksState:
    """Image, video and their classification tasks: create, list, count,
    update, tag, delete; their answers and their signed media URLs."""

    if TYPE_CHECKING:  # what FastLabelState provides
        clock: Clock
        secret: bytes
        base_url: str | None
        tags_match: str
        users: dict[str, Record]
        classes: dict[str, Record]
        tasks: dict[str, Record]
        task_names: dict[tuple[str, str], str]

        def project(self, project_id: str) -> Record: ...
        def project_by_slug(self, slug: object, what: str = "project") -> Record: ...
        def class_by_value(self, project_id: str, value: object) -> Record | None: ...
        def user_by_slug(self, slug: str) -> Record | None: ...

    def task(self, task_id: str, kind: TaskKind | None = None) -> Record:
        task = self.tasks.get(task_id)
        if task is None:
            raise FastLabelError("task %s not found" % task_id, 404)
        if kind is not None and task["_kind"] != kind:
            raise FastLabelError(
                "task %s is an %s task: use %s/%s"
                % (task_id, task["_kind"].replace("_", " "), KIND_PATHS[task["_kind"]], task_id)
            )
        return task

    def _task_project(self, slug: object, kind: TaskKind) -> Record:
        project = self.project_by_slug(slug)
        if project["type"] not in KIND_PROJECT_TYPES[kind]:
            expected = [k for k, types in KIND_PROJECT_TYPES.items() if project["type"] in types]
            hint = ("; its tasks go through %s" % KIND_PATHS[expected[0]]) if expected else " (not emulated)"
            raise FastLabelError("project %r is a %s project%s" % (project["slug"], project["type"], hint))
        return project

    def create_task(self, kind: TaskKind, body: Json, media: Mapping[str, Any]) -> str:
        """A new task from a checked body and its decoded ``media``: the
        task fields ``width``, ``height`` (videos: ``fps``, ``frameCount``,
        ``duration``) and ``_content``, ``_content_type``; returns its id."""
        require_dict(body)
        allowed = KIND_CREATE_FIELDS[kind]
        project = self._task_project(body.get("project"), kind)
        self._refuse_unsupported(body)
        check_keys(body, allowed, "task")
        name = body["name"]
        if (project["id"], name) in self.task_names:
            raise FastLabelError("a task named %r already exists in project %r" % (name, project["slug"]), 409)
        fields = self._task_fields(project, body)
        annotations, attributes = [], []
        if kind == IMAGE:
            annotations = self._check_annotations(project, body.get("annotations"), {})
        elif kind == VIDEO:
            annotations = self._check_video_annotations(project, media, body.get("annotations"), {})
        else:
            attributes = self._check_classification(project, body.get("attributes"))
        now = self.clock.now()
        task: Record = {
            "id": new_id(),
            "_project_id": project["id"],
            "_kind": kind,
            "name": name,
            **media,
            "status": "registered",
            "externalStatus": "registered",
            "priority": 0,
            "tags": [],
            "_users": {},
            "_annotations": annotations,
            "_attributes": attributes,
            "metadatas": [],
            "createdAt": now,
            "updatedAt": now,
        }
        self._apply_task_fields(task, fields)
        self.tasks[task["id"]] = task
        self.task_names[(project["id"], name)] = task["id"]
        return task["id"]

    @staticmethod
    def _refuse_unsupported(body: Mapping[str, Any]) -> None:
        for key in UNSUPPORTED_TASK_FIELDS:
            if body.get(key):
                raise FastLabelError("%s is not supported by the emulator" % key)

    def _task_fields(self, project: Record, body: Mapping[str, Any]) -> dict[str, Any]:
        """The checked common fields of a task body (status, tags, users...)."""
        fields: dict[str, Any] = {}
        if body.get("status") is not None:
            fields["status"] = check_choice(body["status"], TASK_STATUSES, "status")
        if body.get("externalStatus") is not None:
            fields["externalStatus"] = check_choice(body["externalStatus"], EXTERNAL_TASK_STATUSES, "externalStatus")
        custom = body.get("customTaskStatus")
        if custom:
            if custom not in ("registered", "pending"):
                raise FastLabelError("customTaskStatus %r: custom workflows are not supported by the emulator" % custom)
            fields.setdefault("status", custom)
        if body.get("priority") is not None:
            fields["priority"] = check_priority(body["priority"])
        if body.get("tags") is not None:
            fields["tags"] = check_tags(body["tags"])
        if body.get("metadatas") is not None:
            fields["metadatas"] = check_metadatas(body["metadatas"])
        users: dict[str, str | None] = {}
        for key in USER_FIELDS:
            if key in body:
                slug = body[key]
                if slug in (None, ""):
                    users[key] = None
                    continue
                user = self.user_by_slug(slug) if isinstance(slug, str) else None
                if user is None:
                    raise FastLabelError("%s %r is not the slug of a workspace user" % (key, slug))
                users[key] = user["id"]
        if users:
            fields["_users"] = users
        return fields

    @staticmethod
    def _apply_task_fields(task: Record, fields: Mapping[str, Any]) -> None:
        for key, value in fields.items():
            if key == "_users":
                task["_users"] = dict(task["_users"], **value)
            else:
                task[key] = value

    def _check_annotations(
        self, project: Record, annotations: object, existing_ids: Container[object]
    ) -> list[dict[str, Any]]:
        """Checked annotations of a task; an item whose ``id`` is in
        ``existing_ids`` keeps it, the others get new ids."""

        def check(cls: Record, item: dict[str, Any], what: str) -> dict[str, Any]:
            points = check_points(cls["type"], item.get("points"), cls["_max_area_count"], what)
            rotation = item.get("rotation")
            if rotation is None:
                rotation = 0
            if not is_number(rotation):
                raise FastLabelError("%s: rotation must be a number of degrees" % what)
            if rotation and cls["type"] != "bbox":
                raise FastLabelError("%s: only bbox annotations have a rotation" % what)
            keypoints = {}
            if cls["type"] == "pose_estimation":
                keypoints = check_pose_keypoints(item.get("keypoints"), cls["_keypoints"], what)
            elif item.get("keypoints"):
                raise FastLabelError("%s: only pose_estimation annotations have keypoints" % what)
            attributes = check_attribute_values(item.get("attributes"), cls["_attributes"], what)
            score = item.get("confidenceScore")
            if score is None:
                score = -1
            if not is_number(score) or not (0 <= score <= 1 or score == -1):
                raise FastLabelError("%s: confidenceScore is a number between 0 and 1 (-1: none)" % what)
            return {
                "points": points,
                "rotation": rotation,
                "keypoints": keypoints,
                "attributes": attributes,
                "confidenceScore": score,
            }

        return self._checked_items(project, annotations, existing_ids, ANNOTATION_FIELDS, check)

    def _check_video_annotations(
        self, project: Record, media: Mapping[str, Any], annotations: object, existing_ids: Container[object]
    ) -> list[dict[str, Any]]:
        """Checked tracks of a video task (``media``: the task's ``width``,
        ``height``, ``frameCount``); ids as :meth:`_check_annotations`."""

        def check(cls: Record, item: dict[str, Any], what: str) -> dict[str, Any]:
            keyframes = check_track_points(
                cls["type"], item.get("points"), media["frameCount"], media["width"], media["height"], what
            )
            attributes = check_attribute_values(item.get("attributes"), cls["_attributes"], what)
            return {"keyframes": keyframes, "attributes": attributes}

        return self._checked_items(project, annotations, existing_ids, VIDEO_ANNOTATION_FIELDS, check)

    def _checked_items(
        self,
        project: Record,
        annotations: object,
        existing_ids: Container[object],
        fields: Iterable[str],
        check: Callable[[Record, dict[str, Any], str], dict[str, Any]],
    ) -> list[dict[str, Any]]:
        """The annotation list of a task, each item's class looked up and its
        type checked, then ``check(cls, item, what)`` for what its kind holds;
        an item whose ``id`` is in ``existing_ids`` keeps it (once), the others
        get new ids."""
        if annotations is None:
            return []
        if not isinstance(annotations, list):
            raise FastLabelError("annotations must be a list")
        out, used = [], set()
        for index, item in enumerate(annotations):
            what = "annotations[%d]" % index
            require_dict(item, what)
            check_keys(item, fields, what)
            value = item.get("value")
            cls = self.class_by_value(project["id"], value) if isinstance(value, str) else None
            if cls is None:
                raise FastLabelError(
                    "%s: no annotation class with the value %r in project %r" % (what, value, project["slug"])
                )
            if item.get("type") != cls["type"]:
                raise FastLabelError(
                    "%s: the class %r is a %s annotation, not %r" % (what, value, cls["type"], item.get("type"))
                )
            checked = check(cls, item, what)
            # the SDK sends the task name (create) or "" (update) as content: accepted, not kept
            if item.get("content") is not None and not isinstance(item["content"], str):
                raise FastLabelError("%s: content must be a string" % what)
            annotation_id = item.get("id")
            if annotation_id in existing_ids:
                if annotation_id in used:
                    raise FastLabelError("%s: the annotation id %s appears twice" % (what, annotation_id))
                used.add(annotation_id)
            else:
                annotation_id = None
            out.append({"id": annotation_id, "class_id": cls["id"], **checked})
        for annotation in out:
            if annotation["id"] is None:
                annotation["id"] = new_id()
        return out

    def _check_classification(self, project: Record, attributes: object) -> list[tuple[str, Json]]:
        if not attributes:
            return []
        cls = self.class_by_value(project["id"], CLASSIFICATION_VALUE)
        if cls is None or cls["type"] != "classification":
            raise FastLabelError(
                "project %r has no classification annotation (POST annotations/classification first)" % project["slug"]
            )
        return check_attribute_values(attributes, cls["_attributes"], "task")

    def update_task(self, task_id: str, body: Json, kind: TaskKind | None = None) -> dict[str, Any]:
        """``PUT tasks/image/{id}`` (``kind`` IMAGE), ``PUT tasks/video/{id}``
        (VIDEO), ``PUT tasks/image/classification/{id}``, ``PUT
        tasks/video/classification/{id}`` or ``PUT tasks/{id}`` (``kind``
        None: the common fields only)."""
        task = self.task(task_id, kind)
        project = self.project(task["_project_id"])
        require_dict(body)
        self._refuse_unsupported(body)
        allowed: tuple[str, ...] = TASK_COMMON_FIELDS
        if kind in ANNOTATED_KINDS:
            allowed += ("annotations",)
        elif kind in CLASSIFICATION_KINDS:
            allowed += ("attributes",)
        check_keys(body, allowed, "task")
        fields = self._task_fields(project, body)
        if kind == IMAGE and body.get("annotations") is not None:
            existing = {a["id"] for a in task["_annotations"]}
            fields["_annotations"] = self._check_annotations(project, body["annotations"], existing)
        if kind == VIDEO and body.get("annotations") is not None:
            existing = {a["id"] for a in task["_annotations"]}
            fields["_annotations"] = self._check_video_annotations(project, task, body["annotations"], existing)
        if kind in CLASSIFICATION_KINDS and body.get("attributes") is not None:
            fields["_attributes"] = self._check_classification(project, body["attributes"])
        self._apply_task_fields(task, fields)
        task["updatedAt"] = self.clock.now()
        return self.public_task(task)

    def delete_task(self, task_id: str) -> None:
        self.task(task_id)
        self._forget_task(task_id)

    def _forget_task(self, task_id: str) -> None:
        task = self.tasks.pop(task_id)
        self.task_names.pop((task["_project_id"], task["name"]), None)

    def delete_task_annotations(self, task_id: str) -> None:
        task = self.task(task_id)
        task["_annotations"] = []
        task["_attributes"] = []
        task["updatedAt"] = self.clock.now()

    def _filtered_tasks(self, project: Record, query: Query, kind: TaskKind | None = None) -> list[Record]:
        status = str_param(query, "status")
        if status is not None:
            check_choice(status, TASK_STATUSES, "status")
        external = str_param(query, "externalStatus")
        if external is not None:
            check_choice(external, EXTERNAL_TASK_STATUSES, "externalStatus")
        tags = [t for t in query.get("tags", []) if t]
        if len(tags) > MAX_FILTER_TAGS:
            raise FastLabelError("at most %d tags per filter, %d given" % (MAX_FILTER_TAGS, len(tags)))
        name = str_param(query, "taskName")
        match = all if self.tags_match == "all" else any
        return [
            t
            for t in self.tasks.values()
            if t["_project_id"] == project["id"]
            and (kind is None or t["_kind"] == kind)
            and (status is None or t["status"] == status)
            and (external is None or t["externalStatus"] == external)
            and (not tags or match(tag in t["tags"] for tag in tags))
            and (name is None or t["name"] == name)
        ]

    def list_tasks(self, kind: TaskKind, query: Query) -> list[dict[str, Any]]:
        project = self._task_project(str_param(query, "project"), kind)
        tasks = self._filtered_tasks(project, query, kind)
        default_limit, max_limit = KIND_LIMITS[kind]
        return [self.public_task(t) for t in paginate(tasks, query, default_limit, max_limit)]

    def count_tasks(self, query: Query) -> int:
        project = self.project_by_slug(str_param(query, "project"))
        return len(self._filtered_tasks(project, query))

    def task_id_name_map(self, query: Query) -> dict[str, str]:
        project = self.project_by_slug(str_param(query, "project"))
        tasks = [t for t in self.tasks.values() if t["_project_id"] == project["id"]]
        return {t["id"]: t["name"] for t in paginate(tasks, query, MAX_LIMIT)}

    def update_tags(self, body: Json, add: bool) -> dict[str, int]:
        what = "tasks/tags/%s" % ("add" if add else "remove")
        require_dict(body)
        check_keys(body, ("project", "taskIds", "tags"), what)
        project = self.project_by_slug(body.get("project"))
        task_ids = body.get("taskIds")
        if not isinstance(task_ids, list) or not task_ids or not all(isinstance(i, str) for i in task_ids):
            raise FastLabelError("%s: taskIds must be a non-empty list of task ids" % what)
        task_ids = list(dict.fromkeys(task_ids))
        if len(task_ids) > MAX_TAG_IDS:
            raise FastLabelError("%s: at most %d task ids per request, %d given" % (what, MAX_TAG_IDS, len(task_ids)))
        tags = check_tags(body.get("tags"), what + ": tags", MAX_TAGS_PER_UPDATE)
        if not tags:
            raise FastLabelError("%s: tags must not be empty" % what)
        strangers = [i for i in task_ids if i not in self.tasks or self.tasks[i]["_project_id"] != project["id"]]
        if strangers:
            raise FastLabelError(
                "%s: %d task id(s) are not tasks of project %r: %s"
                % (what, len(strangers), project["slug"], ", ".join(strangers[:5]))
            )
        now, updated = self.clock.now(), 0
        for task_id in task_ids:
            task = self.tasks[task_id]
            if add:
                new = [t for t in tags if t not in task["tags"]]
                if new:
                    task["tags"] = task["tags"] + new
            else:
                new = [t for t in task["tags"] if t in tags]
                if new:
                    task["tags"] = [t for t in task["tags"] if t not in tags]
            if new:
                updated += 1
                task["updatedAt"] = now
        return {"updatedTaskCount": updated}

    # -- answers ---------------------------------------------------------------------------

    def public_task(self, task: Record) -> dict[str, Any]:
        out = public_fields(task)
        out["url"] = self.task_url(task)
        for key in USER_FIELDS:
            user = self.users.get(task["_users"].get(key))
            out[key] = user["userName"] if user else None
        out["tags"] = list(task["tags"])
        out["metadatas"] = [dict(m) for m in task["metadatas"]]
        if task["_kind"] == IMAGE:
            out["annotations"] = [self.public_annotation(a) for a in task["_annotations"]]
        elif task["_kind"] == VIDEO:
            out["annotations"] = [self.public_video_annotation(a) for a in task["_annotations"]]
        else:
            cls = self.class_by_value(task["_project_id"], CLASSIFICATION_VALUE)
            out["attributes"] = self._public_attributes(task["_attributes"], cls["_attributes"] if cls else [])
        # a stable key order, close to the service's
        order: tuple[str, ...] = ("id", "name", "width", "height")
        if task["_kind"] in (VIDEO, VIDEO_CLASSIFICATION):
            order += ("fps", "frameCount", "duration")
        order += (
            "url",
            "status",
            "externalStatus",
            "priority",
            "tags",
        ) + USER_FIELDS
        annotated = task["_kind"] in ANNOTATED_KINDS
        order += ("annotations" if annotated else "attributes", "metadatas", "createdAt", "updatedAt")
        return {k: out[k] for k in order}

    @staticmethod
    def _public_attributes(
        values: Iterable[tuple[str, Json]], definitions: Iterable[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        by_key = {d["key"]: d for d in definitions}
        return [
            {"key": key, "name": by_key[key]["name"], "type": by_key[key]["type"], "value": value}
            for key, value in values
            if key in by_key
        ]

    def public_annotation(self, annotation: Mapping[str, Any]) -> dict[str, Any]:
        cls = self.classes[annotation["class_id"]]
        keypoints = []
        if cls["type"] == "pose_estimation":
            keypoints = [
                {
                    "key": k["key"],
                    "name": k["name"],
                    "value": annotation["keypoints"].get(k["key"], []),
                    "edges": list(k["edges"]),
                }
                for k in cls["_keypoints"]
            ]
        return {
            "id": annotation["id"],
            "type": cls["type"],
            "title": cls["title"],
            "value": cls["value"],
            "color": cls["color"],
            "attributes": self._public_attributes(annotation["attributes"], cls["_attributes"]),
            "points": annotation["points"],
            "rotation": annotation["rotation"],
            "keypoints": keypoints,
            "confidenceScore": annotation["confidenceScore"],
        }

    def public_video_annotation(self, annotation: Mapping[str, Any]) -> dict[str, Any]:
        """A video task's track as FastLabel answers it (interpolated frames
        listed as ``autogenerated``)."""
        cls = self.classes[annotation["class_id"]]
        return {
            "id": annotation["id"],
            "type": cls["type"],
            "title": cls["title"],
            "value": cls["value"],
            "color": cls["color"],
            "attributes": self._public_attributes(annotation["attributes"], cls["_attributes"]),
            "points": public_track_points(annotation["keyframes"]),
        }

    # -- images --------------------------------------------------------------------------

    def image_path(self, task: Record) -> str:
        return "%s%s/%s/%s" % (STORAGE_PREFIX, task["_project_id"], task["id"], quote(task["name"], safe=""))

    def sign(self, path: str) -> str:
        return hmac.new(self.secret, path.encode("utf-8"), hashlib.sha256).hexdigest()

    def task_url(self, task: Record) -> str:
        """The task's image URL, signed (works without an API key)."""
        path = self.image_path(task)
        return "%s%s?X-Goog-Algorithm=GOOG4-HMAC-SHA256&X-Goog-Expires=604800&%s=%s" % (
            self.base_url or "",
            path,
            SIGNATURE_PARAM,
            self.sign(path),
        )

    def image_of(self, path: str, signature: str) -> tuple[Record, bool] | None:
        """``(task, signature_ok)`` for an image path, ``None`` when it is
        not the image of a task."""
        parts = path[len(STORAGE_PREFIX) :].split("/")
        if len(parts) != 3:
            return None
        task = self.tasks.get(parts[1])
        if task is None or task["_project_id"] != parts[0] or self.image_path(task) != path:
            return None
        return task, bool(signature) and hmac.compare_digest(self.sign(path), signature)
