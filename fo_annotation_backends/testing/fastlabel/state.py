"""The in-memory state of the FastLabel emulator and its rules (its tasks
and their images are in ``state_tasks.py``).

Records are plain dicts; keys starting with ``_`` are internal. Public
objects (what the API answers) are built by the ``public_*`` methods. Every
method expects the caller to hold :attr:`FastLabelState.lock`, and checks a
whole request before it changes anything (a refused request changes
nothing).
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Mapping
from typing import Any

from ..emulator_base import Clock
from .formats import (
    CLASSIFICATION_VALUE,
    DEFAULT_MAX_AREA_COUNT,
    MAX_LIMIT,
    PALETTE,
    PROJECT_CLASS_TYPES,
    PROJECT_TYPES,
    WORKFLOWS,
    FastLabelError,
    Json,
    Query,
    Record,
    check_attribute_definitions,
    check_choice,
    check_color,
    check_keypoint_definitions,
    check_keys,
    check_max_area_count,
    check_slug,
    new_id,
    paginate,
    public_fields,
    require_dict,
    required_string,
    str_param,
)
from .state_tasks import CLASSIFICATION_KINDS, TasksState

TAGS_MATCH = ("all", "any")
USER_ROLES = ("member", "owner")
LANGUAGES = ("en", "ja")


class FastLabelState(TasksState):
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
        out = public_fields(user)
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
        return [public_fields(p) for p in paginate(projects, query, 100)]

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
        return public_fields(project)

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
        out = public_fields(cls)
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
                if cls["value"] == CLASSIFICATION_VALUE and task["_kind"] in CLASSIFICATION_KINDS:
                    task["_attributes"] = []
        del self.classes[class_id]
