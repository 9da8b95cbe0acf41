"""The labels of the Kili emulator's state (a mixin of
:class:`~.state.KiliState`, which holds the lock, the users, projects and
assets these methods read)."""

from __future__ import annotations

import json
from collections.abc import Container, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Optional

from .rules import (
    HUMAN_TYPES,
    MAX_DELETE_PER_CALL,
    MAX_LABELS_PER_CALL,
    MODEL_TYPES,
    SUBMITTED_TYPES,
    KiliError,
    Record,
    Where,
    check_response_jobs,
    given,
    in_range,
    new_id,
    parse_json,
    status_after,
    unsupported,
)
from .video_labels import check_video_response

if TYPE_CHECKING:
    from ..emulator_base import Clock

#: a checked item of ``appendManyLabels``: asset, author, decoded jsonResponse,
#: model name, seconds to label, and the item as given
PreparedLabel = tuple[Record, Record, dict[str, Any], Optional[str], Optional[float], Mapping[str, Any]]


class LabelsState:
    """``appendManyLabels``, ``labels``, ``deleteLabels`` and the latest
    labels of an asset."""

    if TYPE_CHECKING:  # what KiliState provides
        clock: Clock
        users: dict[str, Record]
        projects: dict[str, Record]
        assets: dict[str, Record]
        labels: dict[str, Record]

        def _next_seq(self) -> int: ...
        def _candidate_assets(self, where: Where) -> list[Record]: ...
        def project_matches(self, project: Record, where: Where) -> bool: ...
        def asset_matches(self, asset: Record, where: Where) -> bool: ...
        def user_matches(self, user: Record, where: Where) -> bool: ...
        def author_matches(self, user: Record | None, names: Iterable[object]) -> bool: ...

    def append_labels(self, data: Mapping[str, Any], where: Where, viewer: Record) -> list[Record]:
        """``appendManyLabels``: all checked, then all created."""
        label_type = data["labelType"]
        items = data.get("labelsData") or []
        if len(items) > MAX_LABELS_PER_CALL:
            raise KiliError("at most %d labels per call, %d given" % (MAX_LABELS_PER_CALL, len(items)), "tooManyLabels")
        if data.get("stepId"):
            raise KiliError("the emulator's projects have no workflow steps (workflow V1)", "unsupported")
        ids_in = given(where, "idIn")
        project_id = given(given(where, "project"), "id")
        prepared: list[PreparedLabel] = []
        for index, item in enumerate(items):
            asset = self.assets.get(item["assetID"])
            if asset is None:
                raise KiliError("asset %s not found" % item["assetID"], "assetNotFound")
            if ids_in is not None and asset["id"] not in ids_in:
                raise KiliError("asset %s is not in where.idIn" % asset["id"], "assetNotInWhere")
            if project_id is not None and asset["_project_id"] != project_id:
                raise KiliError("asset %s is not in project %s" % (asset["id"], project_id), "assetNotInProject")
            project = self.projects[asset["_project_id"]]
            response = parse_json(item["jsonResponse"], "jsonResponse of label %d" % index, "invalidJsonResponse")
            check_response_jobs(project, response or {}, index)
            if project["inputType"] == "VIDEO":
                check_video_response(project, asset, response or {}, index)
            model_name = item.get("modelName")
            if label_type in MODEL_TYPES and not model_name:
                raise KiliError("%s labels need a modelName" % label_type, "missingModelName")
            author = viewer
            if item.get("authorID"):
                named = self.users.get(item["authorID"])
                if named is None:
                    raise KiliError("user %s not found (authorID)" % item["authorID"], "userNotFound")
                author = named
            seconds = item.get("secondsToLabel")
            if seconds is not None and seconds < 0:
                raise KiliError("secondsToLabel must be >= 0", "invalidSecondsToLabel")
            referenced = item.get("referencedLabelId")
            if referenced and referenced not in self.labels:
                raise KiliError("label %s not found (referencedLabelId)" % referenced, "labelNotFound")
            prepared.append((asset, author, response or {}, model_name, seconds, item))
        if data.get("overwrite"):
            self._overwrite(label_type, prepared)
        created = []
        for asset, author, response, model_name, seconds, item in prepared:
            now = self.clock.now()
            label = {
                "id": new_id(),
                "jsonResponse": json.dumps(response),
                "jsonResponseUrl": None,
                "labelType": label_type,
                "createdAt": now,
                "updatedAt": now,
                "modelName": model_name,
                "secondsToLabel": seconds or 0,
                "totalSecondsToLabel": seconds or 0,
                "clientVersion": item.get("clientVersion"),
                "consensusMark": None,
                "honeypotMark": None,
                "inferenceMark": None,
                "skipped": False,
                "isSentBackToQueue": False,
                "assetId": asset["id"],
                "_author_id": author["id"],
                "_referenced_label_id": item.get("referencedLabelId"),
                "_seq": self._next_seq(),
            }
            self.labels[label["id"]] = label
            asset["_labels"].append(label["id"])
            asset["status"] = status_after(asset["status"], label_type)
            asset["updatedAt"] = now
            created.append(label)
        return created

    def _overwrite(self, label_type: str, prepared: Iterable[PreparedLabel]) -> None:
        """``overwrite``: a model's labels replace that model's labels of the
        same type; a person's replace that author's labels of the type."""
        for asset, author, _, model_name, _, _ in prepared:
            doomed = []
            for label_id in asset["_labels"]:
                label = self.labels[label_id]
                if label["labelType"] != label_type:
                    continue
                if label_type in MODEL_TYPES:
                    if label["modelName"] == model_name:
                        doomed.append(label_id)
                elif label["_author_id"] == author["id"]:
                    doomed.append(label_id)
            for label_id in doomed:
                asset["_labels"].remove(label_id)
                del self.labels[label_id]

    def label_matches(self, label: Record, where: Where) -> bool:
        if not where:
            return True
        if given(where, "id") is not None and label["id"] != where["id"]:
            return False
        if given(where, "idIn") is not None and label["id"] not in where["idIn"]:
            return False
        asset = self.assets[label["assetId"]]
        project_where = given(where, "project")
        if project_where and not self.project_matches(self.projects[asset["_project_id"]], project_where):
            return False
        asset_where = given(where, "asset")
        if asset_where and not self.asset_matches(asset, asset_where):
            return False
        if given(where, "typeIn") is not None and label["labelType"] not in where["typeIn"]:
            return False
        author = self.users.get(label["_author_id"])
        if given(where, "authorIn") is not None and not self.author_matches(author, where["authorIn"]):
            return False
        is_review = label["labelType"] == "REVIEW"
        for key, wanted, negate in (
            ("labelerIn", not is_review, False),
            ("labelerNotIn", not is_review, True),
            ("reviewerIn", is_review, False),
            ("reviewerNotIn", is_review, True),
        ):
            names = given(where, key)
            if names is None:
                continue
            named = wanted and self.author_matches(author, names)
            if named == negate:
                return False
        user_where = given(where, "user")
        if user_where and (author is None or not self.user_matches(author, user_where)):
            return False
        for mark in ("consensusMark", "honeypotMark"):
            if not in_range(label[mark], given(where, mark + "Gte"), given(where, mark + "Lte")):
                return False
        created = given(where, "createdAt")
        if created is not None and not label["createdAt"].startswith(created):
            return False
        if given(where, "createdAtGte") is not None and label["createdAt"] < where["createdAtGte"]:
            return False
        if given(where, "createdAtLte") is not None and label["createdAt"] > where["createdAtLte"]:
            return False
        unsupported(where, ["search"], "label")
        return True

    def filter_labels(self, where: Where) -> list[Record]:
        """Labels matching a ``LabelWhere``, in creation order."""
        asset_where = given(where, "asset")
        project_where = given(where, "project")
        scope: dict[str, Any] = {}
        if asset_where:
            scope.update(asset_where)
        if project_where and given(project_where, "id") is not None:
            scope["project"] = {"id": project_where["id"]}
        assets = self._candidate_assets(scope) if scope else list(self.assets.values())
        labels = [self.labels[label] for a in assets for label in a["_labels"]]
        labels.sort(key=lambda label: label["_seq"])
        return [label for label in labels if self.label_matches(label, where)]

    def delete_labels(self, ids: Sequence[str]) -> list[str]:
        if len(ids) > MAX_DELETE_PER_CALL:
            raise KiliError("at most %d labels per call" % MAX_DELETE_PER_CALL, "tooManyLabels")
        deleted = []
        for label_id in ids:
            label = self.labels.pop(label_id, None)
            if label is None:
                continue
            asset = self.assets[label["assetId"]]
            asset["_labels"].remove(label_id)
            if not any(self.labels[label]["labelType"] in HUMAN_TYPES for label in asset["_labels"]):
                asset["status"] = "TODO"
            asset["updatedAt"] = self.clock.now()
            deleted.append(label_id)
        return deleted

    def asset_labels(self, asset: Record) -> list[Record]:
        return [self.labels[label] for label in asset["_labels"]]

    def latest_label(self, asset: Record) -> Record | None:
        """The asset's latest DEFAULT or REVIEW label."""
        for label_id in reversed(asset["_labels"]):
            label = self.labels[label_id]
            if label["labelType"] in SUBMITTED_TYPES:
                return label
        return None

    def latest_labels(self, asset: Record) -> list[Record]:
        """The latest DEFAULT or REVIEW label of each author."""
        latest: dict[str, Record] = {}
        for label in self.asset_labels(asset):
            if label["labelType"] in SUBMITTED_TYPES:
                latest[label["_author_id"]] = label
        return sorted(latest.values(), key=lambda label: label["_seq"])

    def is_latest_of_author(self, label: Record, types: Container[str]) -> bool:
        """Whether ``label`` (of one of ``types``) is its author's latest label
        of those types on its asset."""
        if label["labelType"] not in types:
            return False
        asset = self.assets[label["assetId"]]
        for label_id in reversed(asset["_labels"]):
            other = self.labels[label_id]
            if other["_author_id"] == label["_author_id"] and other["labelType"] in types:
                return other["id"] == label["id"]
        return False
