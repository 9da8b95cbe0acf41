"""The in-memory state of the Kili emulator (its rules are in ``rules.py``,
its labels in ``state_labels.py``).

Records are plain dicts whose public keys are the GraphQL field names of
their type (``id``, ``externalId``, ``jsonMetadata``...); keys starting with
``_`` are internal (``_seq`` is the creation order, ``_project_id``...).
JSON fields are kept as JSON strings, as they travel.

Every method expects the caller to hold :attr:`KiliState.lock` (the GraphQL
executor holds it for a whole request; the emulator's Python helpers take it
themselves).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import re
import secrets
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal, overload
from urllib.parse import parse_qs, quote, unquote, urlsplit

from ..emulator_base import Clock
from .rules import (
    FAR_EXPIRY,
    MAX_ASSETS_PER_CALL,
    MAX_DELETE_PER_CALL,
    MAX_SIGNED_URLS_PER_CALL,
    SIGNATURE_PARAM,
    STORAGE_PREFIX,
    URL_ONLY_INPUT_TYPES,
    KiliError,
    Record,
    Where,
    check_interface,
    check_mark,
    dates_match,
    given,
    image_resolution,
    in_range,
    metadata_matches,
    new_id,
    parse_json,
    unsupported,
)
from .state_labels import LabelsState
from .video import VideoState

#: what ``asset_action`` does: ``addAssetsToReview``, ``sendAssetsBackToQueue``, ``setAssetsPriority``
AssetAction = Literal["review", "back_to_queue", "priority"]
#: the answer of the asset actions: ``{"succeeded"/"declined"/"failed": [{assetId, externalId}]}``
Outcome = dict[str, list[dict[str, Any]]]


class KiliState(LabelsState, VideoState):
    """Users, API keys, projects, assets, labels and stored files.

    Args:
        secret (None): the key that signs storage URLs (random by default)
    """

    def __init__(self, secret: str | None = None) -> None:
        self.lock = threading.Lock()
        self.clock = Clock()
        self.secret = (secret or secrets.token_hex(16)).encode("utf-8")
        self.base_url: str | None = None  # set when the server starts
        self._seq = 0
        self.organization: Record = {
            "id": new_id(),
            "name": "Kili emulator",
            "license": {"uploadLocalData": True, "type": "ENTERPRISE", "expiryDate": FAR_EXPIRY},
            "createdAt": self.clock.now(),
        }
        self.users: dict[str, Record] = {}
        self.api_keys: dict[str, Record] = {}
        self.projects: dict[str, Record] = {}
        self.assets: dict[str, Record] = {}
        self.labels: dict[str, Record] = {}
        #: bucket path -> (bytes, content type)
        self.storage: dict[str, tuple[bytes, str]] = {}
        self.notifications: dict[str, Record] = {}

    @contextlib.contextmanager
    def unlocked(self) -> Iterator[None]:
        """Releases :attr:`lock` for a slow step (the caller holds it)."""
        self.lock.release()
        try:
            yield
        finally:
            self.lock.acquire()

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def clear(self) -> None:
        """Forgets projects, assets, labels and stored files (users stay)."""
        self.projects.clear()
        self.assets.clear()
        self.labels.clear()
        self.storage.clear()
        self.notifications.clear()

    # -- users and keys --------------------------------------------------------

    def add_user(
        self,
        email: str | None,
        firstname: str | None = "",
        lastname: str | None = "",
        api_key: str | None = None,
        role: str | None = "USER",
    ) -> Record:
        """Creates a user (and registers ``api_key`` for it, if given)."""
        email = (email or "").strip()
        if not email or "@" not in email:
            raise KiliError("invalid email %r" % email, "invalidEmail")
        if self.user_by_email(email) is not None:
            raise KiliError("a user with email %s already exists" % email, "userAlreadyExists")
        now = self.clock.now()
        user = {
            "id": new_id(),
            "email": email.lower(),
            "firstname": firstname or "",
            "lastname": lastname or "",
            "activated": True,
            "organizationId": self.organization["id"],
            "organizationRole": role or "USER",
            "createdAt": now,
            "updatedAt": now,
            "_seq": self._next_seq(),
        }
        self.users[user["id"]] = user
        if api_key:
            self.add_api_key(user, api_key)
        return user

    def add_api_key(self, user: Record, key: str, name: str = "emulator key") -> Record:
        """Registers an API key for a user."""
        if key in self.api_keys:
            raise KiliError("this API key is already registered", "apiKeyAlreadyExists")
        record = {
            "id": new_id(),
            "key": key,
            "name": name,
            "createdAt": self.clock.now(),
            "expiryDate": FAR_EXPIRY,
            "revoked": False,
            "_user_id": user["id"],
            "_seq": self._next_seq(),
        }
        self.api_keys[key] = record
        return record

    def user_by_key(self, key: str | None) -> Record | None:
        """The user of an API key, or ``None``."""
        record = self.api_keys.get(key) if key else None
        if record is None or record["revoked"]:
            return None
        return self.users.get(record["_user_id"])

    def user_by_email(self, email: str | None) -> Record | None:
        email = (email or "").strip().lower()
        for user in self.users.values():
            if user["email"] == email:
                return user
        return None

    def user_matches(self, user: Record, where: Where) -> bool:
        if not where:
            return True
        if given(where, "id") is not None and user["id"] != where["id"]:
            return False
        if given(where, "idIn") is not None and user["id"] not in where["idIn"]:
            return False
        if given(where, "email") is not None and user["email"] != where["email"].strip().lower():
            return False
        if given(where, "activated") is not None and user["activated"] != where["activated"]:
            return False
        org = given(where, "organization")
        if org and given(org, "id") is not None and org["id"] != self.organization["id"]:
            return False
        return True

    def filter_users(self, where: Where) -> list[Record]:
        return [u for u in self.users.values() if self.user_matches(u, where)]

    def filter_api_keys(self, where: Mapping[str, Any], viewer: Record) -> list[Record]:
        """The viewer's keys matching ``where`` (a key is only seen by its user)."""
        out = []
        for record in self.api_keys.values():
            if record["_user_id"] != viewer["id"]:
                continue
            if given(where, "id") is not None and record["id"] != where["id"]:
                continue
            if given(where, "key") is not None and record["key"] != where["key"]:
                continue
            user_where = given(where, "user")
            if user_where and not self.user_matches(self.users[record["_user_id"]], user_where):
                continue
            out.append(record)
        return out

    def filter_organizations(self, where: Mapping[str, Any]) -> list[Record]:
        org = self.organization
        if given(where, "id") is not None and where["id"] != org["id"]:
            return []
        user_where = given(where, "user")
        if user_where and not any(self.user_matches(u, user_where) for u in self.users.values()):
            return []
        return [org]

    def create_user(self, data: Mapping[str, Any]) -> Record:
        """``createUser``: a user without an API key."""
        return self.add_user(
            data["email"], data.get("firstname"), data.get("lastname"), role=data.get("organizationRole") or "USER"
        )

    def author_matches(self, user: Record | None, names: Iterable[object]) -> bool:
        """Whether a user is designated in ``names`` (id, email, first name,
        last name or full name; case-insensitive)."""
        if user is None:
            return False
        wanted = {str(n).strip().lower() for n in names}
        full = ("%s %s" % (user["firstname"], user["lastname"])).strip().lower()
        keys = {user["id"].lower(), user["email"], user["firstname"].lower(), user["lastname"].lower(), full}
        return bool(wanted & (keys - {""}))

    # -- projects --------------------------------------------------------------

    @overload
    def project(self, project_id: str | None, required: Literal[True] = ...) -> Record: ...
    @overload
    def project(self, project_id: str | None, required: bool) -> Record | None: ...

    def project(self, project_id: str | None, required: bool = True) -> Record | None:
        """The project of an id; ``KiliError`` (or ``None`` when not
        ``required``) when there is none."""
        project = self.projects.get(project_id) if project_id else None
        if project is None and required:
            raise KiliError("project %s not found" % project_id, "projectNotFound")
        return project

    def project_from_where(self, where: Where) -> Record:
        """The one project a ``ProjectWhere`` names by id."""
        project_id = given(where, "id")
        if project_id is None:
            raise KiliError("the project must be given by id", "projectNotFound")
        return self.project(project_id)

    def create_project(self, data: Mapping[str, Any], author: Record) -> Record:
        title = (data.get("title") or "").strip()
        if not title:
            raise KiliError("a project needs a title", "invalidTitle")
        if data.get("fromDemoProject"):
            raise KiliError("the emulator has no demo projects", "unsupported")
        input_type = data.get("inputType")
        if not input_type:
            raise KiliError("a project needs an inputType", "invalidInputType")
        interface = check_interface(data.get("jsonInterface"))
        now = self.clock.now()
        project = {
            "id": new_id(),
            "title": title,
            "description": data.get("description") or "",
            "inputType": input_type,
            "jsonInterface": json.dumps(interface),
            "instructions": None,
            "createdAt": now,
            "updatedAt": now,
            "archived": False,
            "starred": False,
            "workflowVersion": "V1",
            "steps": [],
            "consensusMark": None,
            "honeypotMark": None,
            "consensusTotCoverage": 0,
            "minConsensusSize": 1,
            "reviewCoverage": 0,
            "useHoneyPot": False,
            "canSkipAsset": True,
            "canNavigateBetweenAssets": True,
            "shouldAutoAssign": False,
            "complianceTags": list(data.get("complianceTags") or []),
            "metadataProperties": {},
            "geospatialSettings": None,
            "dataConnections": [],
            "roles": [{"id": new_id(), "role": "ADMIN", "activated": True, "_user_id": author["id"]}],
            "_author_id": author["id"],
            "_assets": {},  # asset ids in creation order
            "_seq": self._next_seq(),
        }
        self.projects[project["id"]] = project
        return project

    def project_matches(self, project: Record, where: Where) -> bool:
        if not where:
            return True
        if given(where, "id") is not None and project["id"] != where["id"]:
            return False
        if given(where, "idIn") is not None and project["id"] not in where["idIn"]:
            return False
        search = given(where, "searchQuery")
        if search:
            pattern = ".*".join(re.escape(part) for part in search.lower().split("%"))
            if not re.search(pattern, project["title"].lower()):
                return False
        for key in ("archived", "starred"):
            if given(where, key) is not None and project[key] != where[key]:
                return False
        if given(where, "deleted"):
            return False  # deleted projects are gone
        if given(where, "organizationId") is not None and where["organizationId"] != self.organization["id"]:
            return False
        if not dates_match(project, where):
            return False
        unsupported(where, ["tagIds"], "project")
        return True

    def filter_projects(self, where: Where) -> list[Record]:
        return [p for p in self.projects.values() if self.project_matches(p, where)]

    def update_project(self, where: Where, data: Mapping[str, Any]) -> Record:
        project = self.project_from_where(where)
        changes: dict[str, Any] = {}
        for key, value in data.items():
            if value is None or key in ("author", "shouldRelaunchKpiComputation"):
                continue
            if key == "jsonInterface":
                value = json.dumps(check_interface(value))
            elif key == "title":
                value = value.strip()
                if not value:
                    raise KiliError("a project needs a title", "invalidTitle")
            elif key in ("consensusMark", "honeypotMark"):
                check_mark(value, key)
            changes[key] = value
        project.update(changes)
        project["updatedAt"] = self.clock.now()
        return project

    def delete_project(self, where: Where) -> Record:
        project = self.project_from_where(where)
        for asset_id in list(project["_assets"]):
            self._delete_asset(self.assets[asset_id])
        self._delete_stored("projects/%s/" % project["id"])
        del self.projects[project["id"]]
        return project

    def project_counts(self, project: Record) -> dict[str, int]:
        statuses = [self.assets[a]["status"] for a in project["_assets"]]
        return {
            "numberOfAssets": len(statuses),
            "numberOfRemainingAssets": sum(1 for s in statuses if s in ("TODO", "ONGOING")),
            "numberOfReviewedAssets": sum(1 for s in statuses if s == "REVIEWED"),
        }

    # -- storage ---------------------------------------------------------------

    def sign(self, path: str) -> str:
        return hmac.new(self.secret, path.encode("utf-8"), hashlib.sha256).hexdigest()

    def signed_url(self, path: str) -> str:
        """The signed upload URL of a bucket path (with ``&id=`` at the end)."""
        return "%s%s%s?%s=%s&id=%s" % (
            self.base_url,
            STORAGE_PREFIX,
            quote(path, safe="/"),
            SIGNATURE_PARAM,
            self.sign(path),
            secrets.token_hex(8),
        )

    def signed_urls(self, paths: Iterable[str] | None) -> list[str]:
        """``createUploadBucketSignedUrls``."""
        paths = list(paths or [])
        if len(paths) > MAX_SIGNED_URLS_PER_CALL:
            raise KiliError(
                "at most %d signed URLs per call, %d asked" % (MAX_SIGNED_URLS_PER_CALL, len(paths)), "tooManyFilePaths"
            )
        for path in paths:
            parts = path.split("/")
            if len(parts) < 3 or parts[0] != "projects" or not parts[2] or ".." in parts:
                raise KiliError("bucket paths look like projects/<projectId>/..., not %r" % path, "invalidFilePath")
            self.project(parts[1])
        return [self.signed_url(path) for path in paths]

    def signature_valid(self, path: str, signature: str) -> bool:
        return bool(signature) and hmac.compare_digest(self.sign(path), signature)

    def storage_path_of(self, url: object) -> tuple[str, bool] | None:
        """``(path, signature_ok)`` when ``url`` is one of our storage URLs,
        else ``None``."""
        if not self.base_url or not isinstance(url, str):
            return None
        ours = urlsplit(self.base_url)
        parts = urlsplit(url)
        if parts.scheme != ours.scheme or parts.port != ours.port:
            return None
        if parts.hostname not in (ours.hostname, "localhost", "127.0.0.1"):
            return None
        if not parts.path.startswith(STORAGE_PREFIX):
            return None
        path = unquote(parts.path[len(STORAGE_PREFIX) :])
        signature = (parse_qs(parts.query).get(SIGNATURE_PARAM) or [""])[0]
        return path, self.signature_valid(path, signature)

    def put_content(self, path: str, data: bytes, content_type: str | None) -> None:
        self.storage[path] = (bytes(data), content_type or "application/octet-stream")

    def _delete_stored(self, prefix: str) -> None:
        for path in [p for p in self.storage if p.startswith(prefix)]:
            del self.storage[path]

    # -- assets ----------------------------------------------------------------

    def prepare_assets(self, data: Mapping[str, Any], where: Where) -> tuple[Record, list[Record]]:
        """Checks an ``appendManyAssets`` call; returns the assets to create
        (without their resolution) and the http URLs to measure."""
        project = self.project_from_where(where)
        if data.get("multiLayerContentArray"):
            raise KiliError("the emulator does not support multi-layer content", "unsupported")
        arrays: dict[str, Any] = {
            key: data.get(key)
            for key in (
                "contentArray",
                "externalIDArray",
                "idArray",
                "isHoneypotArray",
                "jsonContentArray",
                "jsonMetadataArray",
                "statusArray",
            )
            if data.get(key) is not None
        }
        sizes = {len(v) for v in arrays.values()}
        if not sizes or sizes == {0}:
            raise KiliError("no assets to append", "noAssets")
        if len(sizes) > 1:
            raise KiliError(
                "the arrays have different lengths: %s" % {k: len(v) for k, v in arrays.items()}, "arraysLengthMismatch"
            )
        count = sizes.pop()
        if count > MAX_ASSETS_PER_CALL:
            raise KiliError("at most %d assets per call, %d given" % (MAX_ASSETS_PER_CALL, count), "tooManyAssets")

        def column(key: str, default: Any = None) -> list[Any]:
            values = arrays.get(key) or [None] * count
            return [default if v is None else v for v in values]

        ids = [i or new_id() for i in column("idArray", "")]
        seen: set[str] = set()
        for asset_id in ids:
            if asset_id in seen or asset_id in self.assets:
                raise KiliError("an asset with id %s already exists" % asset_id, "assetIdAlreadyExists")
            seen.add(asset_id)
        prepared: list[Record] = []
        for asset_id, content, external_id, honeypot, json_content, metadata, status in zip(
            ids,
            column("contentArray", ""),
            column("externalIDArray", ""),
            column("isHoneypotArray", False),
            column("jsonContentArray", ""),
            column("jsonMetadataArray", "{}"),
            column("statusArray", "TODO"),
        ):
            self.check_content(project, content, json_content)
            parsed_metadata = parse_json(metadata, "jsonMetadata of asset %s" % asset_id, "invalidJsonMetadata")
            prepared.append(
                {
                    "id": asset_id,
                    "externalId": external_id or asset_id,
                    "content": content,
                    "jsonContent": json_content,
                    "jsonMetadata": json.dumps(parsed_metadata or {}),
                    "status": status,
                    "isHoneypot": bool(honeypot),
                }
            )
        return project, prepared

    def check_content(self, project: Record, content: Any, json_content: Any) -> None:
        """Refuses content the service would not take."""
        if not content:
            if not json_content:
                raise KiliError("an asset needs a content or a jsonContent", "emptyContent")
            return
        if not isinstance(content, str):
            raise KiliError("content must be a string", "invalidContent")
        if re.match(r"^https?://", content, re.IGNORECASE):
            stored = self.storage_path_of(content)
            if stored is not None:
                path, signature_ok = stored
                if not signature_ok:
                    raise KiliError("the signature of %s is not valid" % content, "invalidSignature")
                if path not in self.storage:
                    raise KiliError(
                        "nothing was uploaded to %s: PUT the file to its signed URL first" % path, "contentNotUploaded"
                    )
            return
        if project["inputType"] in URL_ONLY_INPUT_TYPES:
            raise KiliError(
                "content %r is not a URL: upload local files to a signed URL "
                "(createUploadBucketSignedUrls) and give that URL" % content[:200],
                "invalidContent",
            )

    def stored_resolution(self, content: str) -> dict[str, int] | None:
        """The ``{width, height}`` of content stored here, if it is an image."""
        stored = self.storage_path_of(content)
        if stored is None or stored[0] not in self.storage:
            return None
        return image_resolution(self.storage[stored[0]][0])

    def add_assets(
        self, project_id: str, prepared: Sequence[Record], resolutions: Mapping[str, dict[str, int] | None]
    ) -> list[Record]:
        """Creates prepared assets (checked again: the lock was released)."""
        project = self.project(project_id)
        for asset in prepared:
            if asset["id"] in self.assets:
                raise KiliError("an asset with id %s already exists" % asset["id"], "assetIdAlreadyExists")
        created = []
        for asset in prepared:
            now = self.clock.now()
            record = dict(
                asset,
                consensusMark=None,
                honeypotMark=None,
                inferenceMark=None,
                isUsedForConsensus=False,
                priority=0,
                skipped=False,
                createdAt=now,
                updatedAt=now,
                resolution=resolutions.get(asset["id"]),
                pageResolutions=None,
                _project_id=project["id"],
                _labels=[],
                _to_be_labeled_by=[],
                _seq=self._next_seq(),
            )
            self.assets[record["id"]] = record
            project["_assets"][record["id"]] = None
            created.append(record)
        return created

    def existing_external_ids(self, project_id: str, external_ids: Iterable[str]) -> list[str]:
        """``filterExistingAssets``."""
        project = self.project(project_id)
        present = {self.assets[a]["externalId"] for a in project["_assets"]}
        out: list[str] = []
        seen: set[str] = set()
        for external_id in external_ids:
            if external_id in present and external_id not in seen:
                out.append(external_id)
                seen.add(external_id)
        return out

    def asset_matches(self, asset: Record, where: Where) -> bool:
        if not where:
            return True
        if given(where, "id") is not None and asset["id"] != where["id"]:
            return False
        if given(where, "idIn") is not None and asset["id"] not in where["idIn"]:
            return False
        if given(where, "idNotIn") is not None and asset["id"] in where["idNotIn"]:
            return False
        project_where = given(where, "project")
        if project_where and not self.project_matches(self.projects[asset["_project_id"]], project_where):
            return False
        if given(where, "externalId") is not None and asset["externalId"] != where["externalId"]:
            return False
        strictly = given(where, "externalIdStrictlyIn")
        if strictly is not None and asset["externalId"] not in strictly:
            return False
        partial = given(where, "externalIdIn")
        if partial is not None and not any(p in asset["externalId"] for p in partial):
            return False
        if given(where, "statusIn") is not None and asset["status"] not in where["statusIn"]:
            return False
        for mark in ("consensusMark", "honeypotMark", "inferenceMark"):
            if not in_range(asset[mark], given(where, mark + "Gte"), given(where, mark + "Lte")):
                return False
        for key in ("isHoneypot", "skipped"):
            if given(where, key) is not None and asset[key] != where[key]:
                return False
        if not dates_match(asset, where):
            return False
        metadata = given(where, "metadata")
        if metadata and not metadata_matches(json.loads(asset["jsonMetadata"] or "{}"), metadata):
            return False
        label_where = given(where, "label")
        if label_where and not any(self.label_matches(self.labels[label], label_where) for label in asset["_labels"]):
            return False
        unsupported(
            where,
            [
                "assigneeIn",
                "assigneeNotIn",
                "stepIdIn",
                "stepIdNotIn",
                "stepStatusIn",
                "stepStatusNotIn",
                "stepIdAndStatusIn",
                "stepIdAndStatusNotIn",
                "groupNameIn",
                "groupNameNotIn",
            ],
            "asset",
        )
        issue = given(where, "issue")
        if issue:
            unsupported(issue, ["type", "status"], "asset issue")
        return True

    def _candidate_assets(self, where: Where) -> list[Record]:
        """Assets that may match, in creation order (narrowed by id/project)."""
        asset_id = given(where, "id")
        if asset_id is not None:
            asset = self.assets.get(asset_id)
            return [asset] if asset else []
        project_id = given(given(where, "project"), "id")
        if project_id is not None:
            project = self.projects.get(project_id)
            return [self.assets[a] for a in project["_assets"]] if project else []
        ids_in = given(where, "idIn")
        if ids_in is not None:
            found = [self.assets[a] for a in set(ids_in) if a in self.assets]
            return sorted(found, key=lambda a: a["_seq"])
        return sorted(self.assets.values(), key=lambda a: a["_seq"])

    def filter_assets(self, where: Where) -> list[Record]:
        """Assets matching an ``AssetWhere``, in creation order."""
        return [a for a in self._candidate_assets(where) if self.asset_matches(a, where)]

    def update_assets(self, wheres: Sequence[Where], datas: Sequence[Mapping[str, Any]]) -> list[Record]:
        """``updatePropertiesInAssets``: all checked, then all applied."""
        if len(wheres) != len(datas):
            raise KiliError("where and data must have the same length", "arraysLengthMismatch")
        if len(wheres) > MAX_ASSETS_PER_CALL:
            raise KiliError("at most %d assets per call" % MAX_ASSETS_PER_CALL, "tooManyAssets")
        changes: list[tuple[Record, dict[str, Any]]] = []
        for where, data in zip(wheres, datas):
            matches = self.filter_assets(where)
            if len(matches) != 1:
                raise KiliError(
                    "each where must name exactly one asset; %s names %d" % (json.dumps(where), len(matches)),
                    "assetNotFound",
                )
            asset = matches[0]
            project = self.projects[asset["_project_id"]]
            change: dict[str, Any] = {}
            for key, value in data.items():
                if value is None:
                    continue
                if key in ("consensusMark", "honeypotMark"):
                    check_mark(value, key)
                elif key == "jsonMetadata":
                    value = json.dumps(parse_json(value, "jsonMetadata", "invalidJsonMetadata") or {})
                elif key == "content":
                    self.check_content(project, value, data.get("jsonContent") or asset["jsonContent"])
                elif key == "resolution":
                    if value["width"] <= 0 or value["height"] <= 0:
                        raise KiliError("a resolution must be positive", "invalidResolution")
                    value = {"width": value["width"], "height": value["height"]}
                elif key == "toBeLabeledBy":
                    key, value = "_to_be_labeled_by", [v for v in value if v]
                elif key == "shouldResetToBeLabeledBy":
                    if value:
                        change.setdefault("_to_be_labeled_by", [])
                    continue
                elif key == "pageResolutions":
                    value = [dict(p) for p in value if p]
                change[key] = value
            changes.append((asset, change))
        for asset, change in changes:
            asset.update(change)
            asset["updatedAt"] = self.clock.now()
        return [asset for asset, _ in changes]

    def _delete_asset(self, asset: Record) -> None:
        for label_id in asset["_labels"]:
            self.labels.pop(label_id, None)
        project = self.projects[asset["_project_id"]]
        project["_assets"].pop(asset["id"], None)
        self._delete_stored("projects/%s/assets/%s/" % (project["id"], asset["id"]))
        del self.assets[asset["id"]]

    def delete_assets(self, where: Mapping[str, Any]) -> Outcome:
        """``deleteAssets``: an asset already gone, given by id, succeeded."""
        ids = given(where, "idIn")
        outcome: Outcome = {"succeeded": [], "declined": [], "failed": []}
        if ids is None:
            if given(where, "id") is None and given(given(where, "project"), "id") is None:
                raise KiliError("deleteAssets needs idIn, id or a project", "missingFilter")
            matches = self.filter_assets(where)
            if len(matches) > MAX_DELETE_PER_CALL:
                raise KiliError("at most %d assets per call" % MAX_DELETE_PER_CALL, "tooManyAssets")
            ids = [a["id"] for a in matches]
        if len(ids) > MAX_DELETE_PER_CALL:
            raise KiliError("at most %d assets per call, %d given" % (MAX_DELETE_PER_CALL, len(ids)), "tooManyAssets")
        others = {k: v for k, v in where.items() if k != "idIn"}
        for asset_id in ids:
            asset = self.assets.get(asset_id)
            if asset is None:
                outcome["succeeded"].append({"assetId": asset_id, "externalId": None})
                continue
            ref = {"assetId": asset_id, "externalId": asset["externalId"]}
            if not self.asset_matches(asset, others):
                outcome["declined"].append(ref)
                continue
            self._delete_asset(asset)
            outcome["succeeded"].append(ref)
        return outcome

    def _assets_by_ids(self, where: Where, what: str) -> list[str]:
        """The assets an asset action names (``idIn``, at most 100), with
        the ids that name no asset."""
        ids = given(where, "idIn")
        if ids is None:
            ids = (
                [a["id"] for a in self.filter_assets(where)] if given(where, "id") or given(where, "project") else None
            )
        if ids is None:
            raise KiliError("%s needs idIn, id or a project" % what, "missingFilter")
        if len(ids) > MAX_DELETE_PER_CALL:
            raise KiliError("at most %d assets per call, %d given" % (MAX_DELETE_PER_CALL, len(ids)), "tooManyAssets")
        return ids

    def asset_action(self, where: Mapping[str, Any], action: AssetAction, priority: int | None = None) -> Outcome:
        """``addAssetsToReview`` (``"review"``), ``sendAssetsBackToQueue``
        (``"back_to_queue"``) and ``setAssetsPriority`` (``"priority"``)."""
        outcome: Outcome = {"succeeded": [], "declined": [], "failed": []}
        others = {k: v for k, v in where.items() if k != "idIn"}
        for asset_id in self._assets_by_ids(where, action):
            asset = self.assets.get(asset_id)
            if asset is None or not self.asset_matches(asset, others):
                outcome["declined"].append({"assetId": asset_id, "externalId": asset["externalId"] if asset else None})
                continue
            ref = {"assetId": asset_id, "externalId": asset["externalId"]}
            status = asset["status"]
            if action == "review":
                ok = status in ("LABELED", "REVIEWED", "TO_REVIEW")
                change: dict[str, Any] = {"status": "TO_REVIEW"}
            elif action == "back_to_queue":
                ok = status in ("LABELED", "REVIEWED", "TO_REVIEW")
                change = {"status": "ONGOING"}
            else:
                ok = status in ("TODO", "ONGOING")
                change = {"priority": priority}
            if not ok:
                outcome["declined"].append(ref)
                continue
            if action == "back_to_queue":
                latest = self.latest_label(asset)
                if latest is not None:
                    latest["isSentBackToQueue"] = True
            asset.update(change)
            asset["updatedAt"] = self.clock.now()
            outcome["succeeded"].append(ref)
        return outcome

    def delete_many_from_dataset(self, where: Where) -> Record | None:
        """``deleteManyFromDataset``: deletes every matching asset; returns
        the project."""
        project_id = given(given(where, "project"), "id")
        if project_id is None and given(where, "idIn") is None and given(where, "id") is None:
            raise KiliError("deleteManyFromDataset needs a project, id or idIn", "missingFilter")
        matches = self.filter_assets(where)
        project = self.projects.get(project_id) if project_id else None
        if project is None and matches:
            project = self.projects[matches[0]["_project_id"]]
        for asset in matches:
            self._delete_asset(asset)
        return project
