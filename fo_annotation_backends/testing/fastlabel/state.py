"""The in-memory state of the FastLabel emulator and its rules.

Records are plain dicts; keys starting with ``_`` are internal. Public
objects (what the API answers) are built by the ``public_*`` methods. Every
method expects the caller to hold :attr:`FastLabelState.lock`, and checks a
whole request before it changes anything (a refused request changes
nothing).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import uuid
from collections.abc import Container, Iterable, Mapping
from typing import Any, Final, Literal, TypeVar
from urllib.parse import quote

from ..emulator_base import Clock
from .formats import (
    CLASSIFICATION_VALUE,
    DEFAULT_MAX_AREA_COUNT,
    EXTERNAL_TASK_STATUSES,
    IMAGE_CLASSIFICATION_PROJECT_TYPES,
    IMAGE_PROJECT_TYPES,
    MAX_FILTER_TAGS,
    MAX_LIMIT,
    MAX_TAG_IDS,
    MAX_TAGS_PER_UPDATE,
    PALETTE,
    PROJECT_CLASS_TYPES,
    PROJECT_TYPES,
    TASK_STATUSES,
    WORKFLOWS,
    FastLabelError,
    Json,
    Query,
    check_attribute_definitions,
    check_attribute_values,
    check_choice,
    check_color,
    check_keypoint_definitions,
    check_keys,
    check_max_area_count,
    check_metadatas,
    check_points,
    check_pose_keypoints,
    check_priority,
    check_slug,
    check_tags,
    int_param,
    is_number,
    require_dict,
    required_string,
    str_param,
)

_T = TypeVar("_T")

#: a record of the state (user, project, class, task): a JSON-like dict
Record = dict[str, Any]

#: task kinds: the endpoint family a task belongs to
TaskKind = Literal["image", "image_classification"]
IMAGE: Final = "image"
IMAGE_CLASSIFICATION: Final = "image_classification"
KIND_PROJECT_TYPES: dict[TaskKind, tuple[str, ...]] = {
    IMAGE: IMAGE_PROJECT_TYPES,
    IMAGE_CLASSIFICATION: IMAGE_CLASSIFICATION_PROJECT_TYPES,
}
KIND_PATHS: dict[TaskKind, str] = {IMAGE: "tasks/image", IMAGE_CLASSIFICATION: "tasks/image/classification"}

STORAGE_PREFIX = "/storage/"
SIGNATURE_PARAM = "X-Goog-Signature"

#: the user fields of a task: body key -> answered key (the same)
USER_FIELDS = ("assignee", "reviewer", "approver", "externalAssignee", "externalReviewer", "externalApprover")
#: fields the SDK may send that the emulator refuses with a clear message
UNSUPPORTED_TASK_FIELDS = tuple("workflow%dUser" % i for i in range(1, 7)) + ("relations",)
TASK_COMMON_FIELDS = ("status", "externalStatus", "customTaskStatus", "priority", "tags", "metadatas") + USER_FIELDS
IMAGE_TASK_CREATE_FIELDS = ("project", "name", "file", "annotations", "isDeleteExif") + TASK_COMMON_FIELDS
CLASSIFICATION_TASK_CREATE_FIELDS = ("project", "name", "file", "attributes", "isDeleteExif") + TASK_COMMON_FIELDS
ANNOTATION_FIELDS = (
    "id", "type", "value", "title", "color", "points", "rotation", "keypoints", "attributes", "confidenceScore", "content",
)  # fmt: skip
TAGS_MATCH = ("all", "any")
USER_ROLES = ("member", "owner")
LANGUAGES = ("en", "ja")


def new_id() -> str:
    """A UUID4 string, as FastLabel's ids."""
    return str(uuid.uuid4())


def paginate(items: list[_T], query: Query, default_limit: int) -> list[_T]:
    offset = int_param(query, "offset", 0, 0)
    limit = int_param(query, "limit", default_limit, 1, MAX_LIMIT)
    return items[offset : offset + limit]


def _public(record: Mapping[str, Any], **overrides: Any) -> dict[str, Any]:
    out = {k: v for k, v in record.items() if not k.startswith("_")}
    out.update(overrides)
    return out


class FastLabelState:
    """Workspace users, projects, annotation classes, tasks and their images.

    Args:
        secret (None): the key that signs image URLs (random by default)
        tags_match ("all"): how ``tags`` filters of task lists and counts
            match: ``"all"`` (a task has every tag given) or ``"any"``
    """

    def __init__(self, secret: str | None = None, tags_match: str = "all") -> None:
        self.lock = threading.RLock()
        self.clock = Clock()
        self.secret = (secret or secrets.token_hex(16)).encode("utf-8")
        self.tags_match = check_choice(tags_match, TAGS_MATCH, "tags_match")
        self.base_url: str | None = None  # set when the server starts
        self.users: dict[str, Record] = {}  # id -> user, creation order
        self.projects: dict[str, Record] = {}  # id -> project, creation order
        self.classes: dict[str, Record] = {}  # id -> class
        self.tasks: dict[str, Record] = {}  # id -> task
        self.task_names: dict[tuple[str, str], str] = {}  # (project id, task name) -> task id

    def clear(self) -> None:
        """Forgets every project, class, task and image (users stay)."""
        self.projects.clear()
        self.classes.clear()
        self.tasks.clear()
        self.task_names.clear()

    # -- workspace users ---------------------------------------------------------------

    def add_user(
        self, name: str | None, email: str | None, role: str = "member", language: str = "en", slug: str | None = None
    ) -> Record:
        if not isinstance(email, str) or "@" not in email:
            raise FastLabelError("email %r is invalid" % (email,))
        if not isinstance(name, str) or not name.strip():
            raise FastLabelError("name is required")
        check_choice(role, USER_ROLES, "role")
        check_choice(language, LANGUAGES, "language")
        if self.user_by_email(email) is not None:
            raise FastLabelError("a workspace user with the email %r already exists" % email, 409)
        if slug is None:
            base = re.sub(r"[^a-z0-9]+", "-", email.split("@")[0].lower()).strip("-") or "user"
            slug, n = base, 1
            while self.user_by_slug(slug) is not None:
                n += 1
                slug = "%s-%d" % (base, n)
        elif self.user_by_slug(check_slug(slug)) is not None:
            raise FastLabelError("a user with the slug %r already exists" % slug, 409)
        now = self.clock.now()
        user: Record = {
            "id": new_id(),
            "userId": new_id(),
            "userSlug": slug,
            "userName": name,
            "userEmail": email,
            "role": role,
            "language": language,
            "isExternal": False,
            "createdAt": now,
            "updatedAt": now,
        }
        self.users[user["id"]] = user
        return user

    def user_by_email(self, email: str) -> Record | None:
        return next((u for u in self.users.values() if u["userEmail"] == email), None)

    def user_by_slug(self, slug: str) -> Record | None:
        return next((u for u in self.users.values() if u["userSlug"] == slug), None)

    @staticmethod
    def public_user(user: Record) -> dict[str, Any]:
        out = _public(user)
        out.pop("language", None)
        out["functionResourcePermissions"] = {"annotation": True, "modelDev": False, "dataset": False}
        return out

    def list_users(self, query: Query) -> list[dict[str, Any]]:
        keyword = (str_param(query, "keyword") or "").lower()
        users = [
            u for u in self.users.values() if keyword in u["userName"].lower() or keyword in u["userEmail"].lower()
        ]
        return [self.public_user(u) for u in paginate(users, query, 20)]

    def create_user(self, body: Json) -> dict[str, Any]:
        require_dict(body)
        check_keys(body, ("name", "email", "language", "role"), "workspace user")
        user = self.add_user(
            required_string(body, "name", "workspace user"),
            required_string(body, "email", "workspace user"),
            role=body.get("role"),
            language=body.get("language"),
        )
        return self.public_user(user)

    def update_user(self, body: Json) -> dict[str, Any]:
        require_dict(body)
        check_keys(body, ("email", "role"), "workspace user")
        user = self.user_by_email(required_string(body, "email", "workspace user"))
        if user is None:
            raise FastLabelError("no workspace user with the email %r" % body["email"], 404)
        role = check_choice(body.get("role"), USER_ROLES + ("none",), "role")
        if role == "none":
            del self.users[user["id"]]
        user["role"] = role
        user["updatedAt"] = self.clock.now()
        return self.public_user(user)

    # -- projects ----------------------------------------------------------------------

    def project(self, project_id: str) -> Record:
        project = self.projects.get(project_id)
        if project is None:
            raise FastLabelError("project %s not found" % project_id, 404)
        return project

    def project_by_slug(self, slug: object, what: str = "project") -> Record:
        if not isinstance(slug, str) or not slug:
            raise FastLabelError("%s is required (the project's slug)" % what)
        project = next((p for p in self.projects.values() if p["slug"] == slug), None)
        if project is None:
            raise FastLabelError("project %r not found" % slug, 404)
        return project

    def create_project(self, body: Json) -> str:
        require_dict(body)
        check_keys(body, ("type", "name", "slug", "isPixel", "jobSize", "workflow", "externalWorkflow"), "project")
        project_type = check_choice(body.get("type"), PROJECT_TYPES, "project type")
        name = required_string(body, "name", "project")
        slug = check_slug(body.get("slug"))
        if any(p["slug"] == slug for p in self.projects.values()):
            raise FastLabelError("a project with the slug %r already exists" % slug, 409)
        fields = self._project_fields(body)
        now = self.clock.now()
        project: Record = {
            "id": new_id(),
            "type": project_type,
            "name": name,
            "slug": slug,
            "isPixel": bool(body.get("isPixel", False)),
            "jobSize": 10,
            "workflow": "two_step",
            "externalWorkflow": "two_step",
            "createdAt": now,
            "updatedAt": now,
        }
        project.update(fields)
        self.projects[project["id"]] = project
        return project["id"]

    @staticmethod
    def _project_fields(body: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if body.get("jobSize") is not None:
            job_size = body["jobSize"]
            if isinstance(job_size, bool) or not isinstance(job_size, int) or job_size < 1:
                raise FastLabelError("jobSize must be a positive integer")
            out["jobSize"] = job_size
        for key in ("workflow", "externalWorkflow"):
            if body.get(key) is not None:
                out[key] = check_choice(body[key], WORKFLOWS, key)
        if "isPixel" in body and not isinstance(body["isPixel"], bool):
            raise FastLabelError("isPixel must be a boolean")
        return out

    def list_projects(self, query: Query) -> list[dict[str, Any]]:
        slug = str_param(query, "slug")
        projects = [p for p in self.projects.values() if slug is None or p["slug"] == slug]
        return [_public(p) for p in paginate(projects, query, 100)]

    def update_project(self, project_id: str, body: Json) -> dict[str, Any]:
        project = self.project(project_id)
        require_dict(body)
        check_keys(body, ("name", "slug", "jobSize", "workflow", "externalWorkflow"), "project")
        fields = self._project_fields(body)
        if body.get("name") is not None:
            fields["name"] = required_string(body, "name", "project")
        if body.get("slug") is not None:
            slug = check_slug(body["slug"])
            if any(p["slug"] == slug and p is not project for p in self.projects.values()):
                raise FastLabelError("a project with the slug %r already exists" % slug, 409)
            fields["slug"] = slug
        project.update(fields, updatedAt=self.clock.now())
        return _public(project)

    def delete_project(self, project_id: str) -> None:
        self.project(project_id)
        for task_id in [t["id"] for t in self.tasks.values() if t["_project_id"] == project_id]:
            self._forget_task(task_id)
        for class_id in [c["id"] for c in self.classes.values() if c["_project_id"] == project_id]:
            del self.classes[class_id]
        del self.projects[project_id]

    def id_slug_map(self, query: Query) -> dict[str, str]:
        return {p["id"]: p["slug"] for p in paginate(list(self.projects.values()), query, MAX_LIMIT)}

    # -- annotation classes ------------------------------------------------------------

    def project_classes(self, project_id: str) -> list[Record]:
        return [c for c in self.classes.values() if c["_project_id"] == project_id]

    def class_by_value(self, project_id: str, value: object) -> Record | None:
        return next((c for c in self.classes.values() if c["_project_id"] == project_id and c["value"] == value), None)

    def annotation_class(self, class_id: str) -> Record:
        cls = self.classes.get(class_id)
        if cls is None:
            raise FastLabelError("annotation %s not found" % class_id, 404)
        return cls

    def create_class(self, body: Json) -> str:
        require_dict(body)
        check_keys(
            body,
            ("project", "type", "value", "title", "color", "order", "attributes", "maxAreaCount", "keypoints"),
            "annotation",
        )
        project = self.project_by_slug(body.get("project"))
        class_type = check_choice(
            body.get("type"), PROJECT_CLASS_TYPES[project["type"]], "annotation type of a %s project" % project["type"]
        )
        value = required_string(body, "value", "annotation")
        title = required_string(body, "title", "annotation")
        return self._add_class(project, class_type, value, title, body)

    def create_classification_class(self, body: Json) -> str:
        require_dict(body)
        check_keys(body, ("project", "attributes"), "classification annotation")
        project = self.project_by_slug(body.get("project"))
        if "classification" not in PROJECT_CLASS_TYPES[project["type"]]:
            raise FastLabelError(
                "project %r (%s) has no classification annotations" % (project["slug"], project["type"])
            )
        if not body.get("attributes"):
            raise FastLabelError("classification annotation: attributes are required")
        return self._add_class(project, "classification", CLASSIFICATION_VALUE, CLASSIFICATION_VALUE, body)

    def _add_class(self, project: Record, class_type: str, value: str, title: str, body: Mapping[str, Any]) -> str:
        if self.class_by_value(project["id"], value) is not None:
            raise FastLabelError(
                "an annotation with the value %r already exists in project %r" % (value, project["slug"]), 409
            )
        attributes = check_attribute_definitions(body.get("attributes") or [], new_id)
        keypoints = []
        if class_type == "pose_estimation":
            keypoints = check_keypoint_definitions(body.get("keypoints"), new_id)
        elif body.get("keypoints"):
            raise FastLabelError("only pose_estimation annotations have keypoints")
        max_area_count: int | None = DEFAULT_MAX_AREA_COUNT
        if "maxAreaCount" in body:
            if class_type != "segmentation":
                raise FastLabelError("maxAreaCount only applies to segmentation annotations")
            max_area_count = check_max_area_count(body["maxAreaCount"])
        existing = self.project_classes(project["id"])
        order = body.get("order")
        if order is None:
            order = len(existing) + 1
        elif isinstance(order, bool) or not isinstance(order, int):
            raise FastLabelError("order must be an integer")
        color = check_color(body["color"]) if body.get("color") else PALETTE[len(existing) % len(PALETTE)]
        now = self.clock.now()
        cls: Record = {
            "id": new_id(),
            "_project_id": project["id"],
            "type": class_type,
            "value": value,
            "title": title,
            "color": color,
            "order": order,
            "_attributes": attributes,
            "_keypoints": keypoints,
            "_max_area_count": max_area_count if class_type == "segmentation" else None,
            "createdAt": now,
            "updatedAt": now,
        }
        self.classes[cls["id"]] = cls
        return cls["id"]

    def public_class(self, cls: Record) -> dict[str, Any]:
        out = _public(cls)
        out["vertex"] = 0
        out["attributes"] = [dict(a, options=[dict(o) for o in a["options"]], value="") for a in cls["_attributes"]]
        if cls["type"] == "pose_estimation":
            ids = {k["key"]: k["id"] for k in cls["_keypoints"]}
            out["keypoints"] = [
                {
                    "id": k["id"],
                    "key": k["key"],
                    "name": k["name"],
                    "color": k["color"],
                    "edges": [ids[e] for e in k["edges"]],
                    "value": [],
                }
                for k in cls["_keypoints"]
            ]
        if cls["type"] == "segmentation":
            out["maxAreaCount"] = cls["_max_area_count"]
        out["createdAt"] = out.pop("createdAt")
        out["updatedAt"] = out.pop("updatedAt")
        return out

    def list_classes(self, query: Query) -> list[dict[str, Any]]:
        project = self.project_by_slug(str_param(query, "project"))
        value = str_param(query, "value")
        classes = [c for c in self.project_classes(project["id"]) if value is None or c["value"] == value]
        return [self.public_class(c) for c in paginate(classes, query, 10)]

    def update_class(self, class_id: str, body: Json, classification: bool = False) -> dict[str, Any]:
        cls = self.annotation_class(class_id)
        require_dict(body)
        if classification:
            check_keys(body, ("attributes",), "classification annotation")
            if cls["type"] != "classification":
                raise FastLabelError(
                    "annotation %s is a %s annotation, not a classification one" % (class_id, cls["type"])
                )
        else:
            check_keys(
                body, ("value", "title", "color", "order", "attributes", "maxAreaCount", "keypoints"), "annotation"
            )
        fields: dict[str, Any] = {}
        if body.get("value") is not None:
            value = required_string(body, "value", "annotation")
            other = self.class_by_value(cls["_project_id"], value)
            if other is not None and other is not cls:
                raise FastLabelError("an annotation with the value %r already exists in the project" % value, 409)
            fields["value"] = value
        if body.get("title") is not None:
            fields["title"] = required_string(body, "title", "annotation")
        if body.get("color") is not None:
            fields["color"] = check_color(body["color"])
        if body.get("order") is not None:
            if isinstance(body["order"], bool) or not isinstance(body["order"], int):
                raise FastLabelError("order must be an integer")
            fields["order"] = body["order"]
        if body.get("attributes") is not None:
            fields["_attributes"] = check_attribute_definitions(body["attributes"], new_id, cls["_attributes"])
        if "maxAreaCount" in body:
            if cls["type"] != "segmentation":
                raise FastLabelError("maxAreaCount only applies to segmentation annotations")
            fields["_max_area_count"] = check_max_area_count(body["maxAreaCount"])
        if body.get("keypoints") is not None:
            raise FastLabelError("the emulator does not change the keypoints of a class (delete and create it)")
        cls.update(fields, updatedAt=self.clock.now())
        return self.public_class(cls)

    def delete_class(self, class_id: str) -> None:
        cls = self.annotation_class(class_id)
        # the tasks' annotations of the class go with it
        for task in self.tasks.values():
            if task["_project_id"] == cls["_project_id"]:
                task["_annotations"] = [a for a in task["_annotations"] if a["class_id"] != class_id]
                if cls["value"] == CLASSIFICATION_VALUE and task["_kind"] == IMAGE_CLASSIFICATION:
                    task["_attributes"] = []
        del self.classes[class_id]

    # -- tasks ---------------------------------------------------------------------------

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

    def create_task(self, kind: TaskKind, body: Json, image: tuple[bytes, int, int, str]) -> str:
        """A new task from a checked body and ``image = (bytes, width,
        height, content_type)``; returns its id."""
        require_dict(body)
        allowed = IMAGE_TASK_CREATE_FIELDS if kind == IMAGE else CLASSIFICATION_TASK_CREATE_FIELDS
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
        else:
            attributes = self._check_classification(project, body.get("attributes"))
        data, width, height, content_type = image
        now = self.clock.now()
        task: Record = {
            "id": new_id(),
            "_project_id": project["id"],
            "_kind": kind,
            "name": name,
            "width": width,
            "height": height,
            "_content": data,
            "_content_type": content_type,
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
        if annotations is None:
            return []
        if not isinstance(annotations, list):
            raise FastLabelError("annotations must be a list")
        out, used = [], set()
        for index, item in enumerate(annotations):
            what = "annotations[%d]" % index
            require_dict(item, what)
            check_keys(item, ANNOTATION_FIELDS, what)
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
            if item.get("content") is not None and not isinstance(item["content"], str):
                raise FastLabelError("%s: content must be a string" % what)
            annotation_id = item.get("id")
            if annotation_id in existing_ids:
                if annotation_id in used:
                    raise FastLabelError("%s: the annotation id %s appears twice" % (what, annotation_id))
                used.add(annotation_id)
            else:
                annotation_id = None
            out.append(
                {
                    "id": annotation_id,
                    "class_id": cls["id"],
                    "points": points,
                    "rotation": rotation,
                    "keypoints": keypoints,
                    "attributes": attributes,
                    "confidenceScore": score,
                }
            )
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
        """``PUT tasks/image/{id}`` (``kind`` IMAGE), ``PUT
        tasks/image/classification/{id}`` or ``PUT tasks/{id}`` (``kind``
        None: the common fields only)."""
        task = self.task(task_id, kind)
        project = self.project(task["_project_id"])
        require_dict(body)
        self._refuse_unsupported(body)
        allowed: tuple[str, ...] = TASK_COMMON_FIELDS
        if kind == IMAGE:
            allowed += ("annotations",)
        elif kind == IMAGE_CLASSIFICATION:
            allowed += ("attributes",)
        check_keys(body, allowed, "task")
        fields = self._task_fields(project, body)
        if kind == IMAGE and body.get("annotations") is not None:
            existing = {a["id"] for a in task["_annotations"]}
            fields["_annotations"] = self._check_annotations(project, body["annotations"], existing)
        if kind == IMAGE_CLASSIFICATION and body.get("attributes") is not None:
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
        return [self.public_task(t) for t in paginate(tasks, query, 100)]

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
        out = _public(task)
        out["url"] = self.task_url(task)
        for key in USER_FIELDS:
            user = self.users.get(task["_users"].get(key))
            out[key] = user["userName"] if user else None
        out["tags"] = list(task["tags"])
        out["metadatas"] = [dict(m) for m in task["metadatas"]]
        if task["_kind"] == IMAGE:
            out["annotations"] = [self.public_annotation(a) for a in task["_annotations"]]
        else:
            cls = self.class_by_value(task["_project_id"], CLASSIFICATION_VALUE)
            out["attributes"] = self._public_attributes(task["_attributes"], cls["_attributes"] if cls else [])
        # a stable key order, close to the service's
        order: tuple[str, ...] = (
            "id",
            "name",
            "width",
            "height",
            "url",
            "status",
            "externalStatus",
            "priority",
            "tags",
        ) + USER_FIELDS
        order += ("annotations" if task["_kind"] == IMAGE else "attributes", "metadatas", "createdAt", "updatedAt")
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
