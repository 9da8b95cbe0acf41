"""Annotation campaigns of the Picsellia emulator's state: a campaign per
version, its steps, the sync job that makes assignments, and the assignment
list. Callers hold the state's lock."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .formats import Json, PicselliaError, bad_request, new_id, not_found, query_value, require_choice, require_dict

STEP_TYPES = ("ANNOTATION", "REVIEW")
ASSIGNMENT_STATUSES = ("TO_DO", "TO_REWORK", "DONE", "SKIPPED")
CAMPAIGN_FIELDS = ("description", "instructions_text", "end_date", "auto_add_new_assets", "auto_close_on_completion")


class CampaignState:
    """Campaigns, steps, sync jobs and assignments."""

    versions: dict[str, dict[str, Any]]
    assets: dict[str, dict[str, Any]]
    annotations: dict[str, dict[str, Any]]
    datas: dict[str, dict[str, Any]]
    user_id: str
    job_reads: int

    def clear_campaigns(self) -> None:
        """Forgets every campaign, step, sync job and assignment."""
        self.campaigns: dict[str, dict[str, Any]] = {}
        self.steps: dict[str, dict[str, Any]] = {}
        self.jobs_v2: dict[str, dict[str, Any]] = {}
        self.assignments: dict[str, dict[str, Any]] = {}

    def _campaign_fields(self, body: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in ("description", "instructions_text", "end_date"):
            if key in body:
                if body[key] is not None and not isinstance(body[key], str):
                    raise bad_request("%s must be a string" % key)
                out[key] = body[key]
        for key in ("auto_add_new_assets", "auto_close_on_completion"):
            if key in body:
                if not isinstance(body[key], bool):
                    raise bad_request("%s must be a boolean" % key)
                out[key] = body[key]
        if out.get("auto_add_new_assets"):
            raise bad_request("auto_add_new_assets is not implemented by the emulator")
        return out

    def create_campaign(self, version_id: str, body: Json) -> dict[str, Any]:
        """``POST V/campaigns``: the version's one campaign (409 on a second)."""
        if version_id not in self.versions:
            raise not_found("dataset version", version_id)
        version = self.versions[version_id]
        body = require_dict(body if body is not None else {}, allowed=CAMPAIGN_FIELDS + ("name",))
        if version.get("annotation_campaign_id"):
            raise PicselliaError(409, "this version already has a campaign")
        campaign: dict[str, Any] = {
            "id": new_id(),
            "dataset_version_id": version_id,
            "status": "OPEN",
            "description": "",
        }
        campaign.update(instructions_text=None, end_date=None, auto_add_new_assets=False)
        campaign["auto_close_on_completion"] = False
        campaign.update(self._campaign_fields(body))
        self.campaigns[campaign["id"]] = campaign
        version["annotation_campaign_id"] = campaign["id"]
        return dict(campaign)

    def campaign(self, campaign_id: str) -> dict[str, Any]:
        """A campaign by id (404 otherwise)."""
        campaign = self.campaigns.get(campaign_id)
        if campaign is None:
            raise not_found("campaign", campaign_id)
        return campaign

    def update_campaign(self, campaign_id: str, body: Json) -> dict[str, Any]:
        """``PATCH C``."""
        campaign = self.campaign(campaign_id)
        campaign.update(self._campaign_fields(require_dict(body, allowed=CAMPAIGN_FIELDS)))
        return dict(campaign)

    def close_campaign(self, campaign_id: str) -> dict[str, Any]:
        """``POST C/close``."""
        campaign = self.campaign(campaign_id)
        campaign["status"] = "CLOSED"
        return dict(campaign)

    def delete_campaign(self, campaign_id: str) -> None:
        """``DELETE C``: its steps and assignments go with it."""
        campaign = self.campaign(campaign_id)
        self.versions[campaign["dataset_version_id"]].pop("annotation_campaign_id", None)
        for table in (self.steps, self.assignments):
            for key in [k for k, v in table.items() if v["campaign_id"] == campaign_id]:
                del table[key]
        del self.campaigns[campaign_id]

    def create_step(self, campaign_id: str, body: Json) -> dict[str, Any]:
        """``POST C/steps``: a step with weighted assignees."""
        self.campaign(campaign_id)
        allowed = ("name", "type", "order", "assignees", "description", "sample_rate")
        body = require_dict(body, allowed=allowed, required=("name", "type"))
        rate = body.get("sample_rate")
        if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate <= 1):
            raise bad_request("sample_rate must be a number in (0, 1]")
        if not isinstance(body["name"], str) or not body["name"].strip():
            raise bad_request("name must be a non-empty string")
        order = body.get("order")
        if order is None:
            order = len([s for s in self.steps.values() if s["campaign_id"] == campaign_id])
        if isinstance(order, bool) or not isinstance(order, int):
            raise bad_request("order must be an integer")
        assignees = body.get("assignees") or []
        if not isinstance(assignees, list):
            raise bad_request("assignees must be a list")
        checked = []
        for assignee in assignees:
            assignee = require_dict(assignee, allowed=("user_id", "weight"), required=("user_id",))
            if assignee["user_id"] != self.user_id:
                raise not_found("user", assignee["user_id"])
            weight = assignee.get("weight", 1)
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight <= 0:
                raise bad_request("weight must be a number > 0")
            checked.append({"user_id": assignee["user_id"], "weight": weight})
        step: dict[str, Any] = {"id": new_id(), "campaign_id": campaign_id, "name": body["name"], "order": order}
        step.update(type=require_choice(body["type"], "type", STEP_TYPES), assignees=checked)
        step.update(description=str(body.get("description") or ""), sample_rate=rate)
        self.steps[step["id"]] = step
        return dict(step)

    def list_steps(self, campaign_id: str) -> list[dict[str, Any]]:
        """A campaign's steps by order."""
        self.campaign(campaign_id)
        found = [dict(s) for s in self.steps.values() if s["campaign_id"] == campaign_id]
        return sorted(found, key=lambda s: s["order"])

    def _unsynced(self, campaign: Mapping[str, Any]) -> list[str]:
        synced = {a["asset_id"] for a in self.assignments.values() if a["campaign_id"] == campaign["id"]}
        version = self.versions[campaign["dataset_version_id"]]
        return [a for a in version["_assets"] if a not in synced]

    def sync_available(self, campaign_id: str) -> dict[str, Any]:
        """``GET C/assignments/sync/available``."""
        campaign = self.campaign(campaign_id)
        unsynced = self._unsynced(campaign)
        reason = None
        if not self.list_steps(campaign_id):
            reason = "the campaign has no step"
        elif not unsynced:
            reason = "every asset is already synced"
        elif any(j["status"] != "SUCCEEDED" for j in self.jobs_v2.values() if j["_campaign"] == campaign_id):
            reason = "a sync is already running"
        return {"is_sync_available": reason is None, "reason": reason, "unsynced_item_count": len(unsynced)}

    def sync(self, campaign_id: str, body: Json) -> dict[str, Any]:
        """``POST C/assignments/sync``: a job that makes an assignment per
        unsynced asset, at the first step (an annotated asset at
        ``existing_annotations_step_id``, or DONE)."""
        campaign = self.campaign(campaign_id)
        body = require_dict(body if body is not None else {}, allowed=("existing_annotations_step_id",))
        available = self.sync_available(campaign_id)
        if not available["is_sync_available"]:
            raise bad_request("sync is not available: %s" % available["reason"])
        existing = body.get("existing_annotations_step_id")
        if existing is not None and existing != "DONE":
            step = self.steps.get(existing) if isinstance(existing, str) else None
            if step is None or step["campaign_id"] != campaign_id:
                raise not_found("step", existing)
        job: dict[str, Any] = {"id": new_id(), "status": "RUNNING", "_campaign": campaign_id, "_existing": existing}
        job.update(_reads_left=self.job_reads, _assets=self._unsynced(campaign))
        self.jobs_v2[job["id"]] = job
        if not self.job_reads:
            self._finish_sync(job)
        return {"campaign": dict(campaign), "job": {"id": job["id"], "status": job["status"]}}

    def _finish_sync(self, job: dict[str, Any]) -> None:
        steps = self.list_steps(job["_campaign"])
        first = steps[0] if steps else None
        for index, asset_id in enumerate(job["_assets"]):
            if asset_id not in self.assets or first is None:
                continue
            annotated = any(a["asset_id"] == asset_id for a in self.annotations.values())
            step, status = first, "TO_DO"
            if annotated and job["_existing"] == "DONE":
                step, status = steps[-1], "DONE"
            elif annotated and job["_existing"]:
                step = self.steps[job["_existing"]]
            assignees = step["assignees"]
            user = assignees[index % len(assignees)]["user_id"] if assignees else None
            assignment: dict[str, Any] = {"id": new_id(), "campaign_id": job["_campaign"], "asset_id": asset_id}
            assignment.update(assigned_user_id=user, step_id=step["id"], status=status)
            self.assignments[assignment["id"]] = assignment
        job["status"] = "SUCCEEDED"

    def read_job_v2(self, job_id: str) -> dict[str, str]:
        """``GET /api/v2/job/{id}``: a sync job ends after ``job_reads`` reads."""
        job = self.jobs_v2.get(job_id)
        if job is None:
            raise not_found("job", job_id)
        if job["status"] == "RUNNING":
            job["_reads_left"] -= 1
            if job["_reads_left"] <= 0:
                self._finish_sync(job)
        return {"id": job["id"], "status": job["status"]}

    def list_assignments(self, campaign_id: str, query: Mapping[str, list[str]]) -> list[dict[str, Any]]:
        """``GET C/assignments?status=&step_id=&user_id=``."""
        self.campaign(campaign_id)
        found = [a for a in self.assignments.values() if a["campaign_id"] == campaign_id]
        status = query_value(query, "status")
        if status is not None:
            require_choice(status, "status", ASSIGNMENT_STATUSES)
        wanted = {"status": status, "step_id": query_value(query, "step_id")}
        wanted["assigned_user_id"] = query_value(query, "user_id")
        for key, value in wanted.items():
            if value is not None:
                found = [a for a in found if a[key] == value]
        out = []
        for assignment in found:
            item = {k: v for k, v in assignment.items() if k != "campaign_id"}
            data = self.datas[self.assets[assignment["asset_id"]]["data_id"]]
            item["data"] = {k: data[k] for k in ("id", "filename", "object_name")}
            out.append(item)
        return out

    def synced(self, asset_id: str) -> bool:
        """Whether an asset has an assignment in a campaign."""
        return any(a["asset_id"] == asset_id for a in self.assignments.values())

    def assignment_filter(self, asset_ids: list[str], values: Mapping[str, Any]) -> list[str]:
        """Asset ids kept by the ``assignment_status`` / ``assignment_step_id`` filters."""
        status = values.get("assignment_status")
        step = values.get("assignment_step_id")
        status = status[-1] if isinstance(status, list) else status
        step = step[-1] if isinstance(step, list) else step
        if status is None and step is None:
            return asset_ids
        if status is not None:
            require_choice(status, "assignment_status", ASSIGNMENT_STATUSES)
        kept = {
            a["asset_id"]
            for a in self.assignments.values()
            if (status is None or a["status"] == status) and (step is None or a["step_id"] == step)
        }
        return [a for a in asset_ids if a in kept]
