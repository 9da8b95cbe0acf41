"""A simulated human annotator for Kili-protocol servers.

It works through the same GraphQL API as Kili's web app: it reads an asset
with its labels, and submits DEFAULT or REVIEW labels as a named user. Tests
(and users checking their own pipelines against the emulator) use it to
play the person in the loop.
"""

from __future__ import annotations

import json
import random
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, Protocol

import requests

from . import DemoServer


class KiliAnnotator:
    """Labels assets of a Kili project as named users.

    Args:
        url: the GraphQL endpoint
        api_key: an API key of an account allowed to create users
    """

    def __init__(self, url: str, api_key: str) -> None:
        self.url = url
        self._session = requests.Session()
        self._session.headers["Authorization"] = "X-API-Key: %s" % api_key
        self._users: dict[str, str] = {}  # email -> user id

    def __repr__(self) -> str:
        return "KiliAnnotator(%r)" % self.url

    def graphql(self, document: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Runs a GraphQL document; returns its ``data`` (errors raise)."""
        response = self._session.post(self.url, json={"query": document, "variables": variables or {}}, timeout=60)
        payload = response.json()
        if payload.get("errors"):
            raise RuntimeError("GraphQL error: %s" % payload["errors"][0].get("message"))
        response.raise_for_status()
        return payload["data"]

    def user_id(self, email: str) -> str:
        """The id of the user with this email, created if needed."""
        if email not in self._users:
            found = self.graphql(
                "query($where: UserWhere!) { data: users(where: $where, first: 1, skip: 0) { id email } }",
                {"where": {"email": email}},
            )["data"]
            if found:
                self._users[email] = found[0]["id"]
            else:
                self._users[email] = self.graphql(
                    "mutation($data: CreateUserData!) { data: createUser(data: $data) { id } }",
                    {"data": {"email": email, "password": "annotator", "organizationRole": "USER"}},
                )["data"]["id"]
        return self._users[email]

    def asset(self, project_id: str, asset_id: str) -> dict[str, Any]:
        """One asset with its labels (``jsonResponse`` decoded)."""
        assets = self.graphql(
            "query($where: AssetWhere!) { data: assets(where: $where, first: 1, skip: 0) "
            "{ id externalId content status jsonMetadata resolution { width height } "
            "labels { id labelType modelName createdAt jsonResponse author { email } } } }",
            {"where": {"project": {"id": project_id}, "id": asset_id}},
        )["data"]
        if not assets:
            raise KeyError("No asset %s in project %s" % (asset_id, project_id))
        asset = assets[0]
        for label in asset.get("labels") or []:
            label["jsonResponse"] = _decode(label.get("jsonResponse"))
        asset["jsonMetadata"] = _decode(asset.get("jsonMetadata"))
        return asset

    def prefilled(self, project_id: str, asset_id: str) -> dict[str, Any]:
        """What the editor shows an annotator first: the latest label, or
        the uploaded prediction (a copy the caller may edit)."""
        labels = self.asset(project_id, asset_id).get("labels") or []
        human = [label for label in labels if label["labelType"] in ("DEFAULT", "REVIEW")]
        pool = human or [label for label in labels if label["labelType"] == "PREDICTION"]
        if not pool:
            return {}
        return json.loads(json.dumps(max(pool, key=lambda label: label["createdAt"])["jsonResponse"] or {}))

    def submit(
        self,
        project_id: str,
        asset_id: str,
        json_response: Mapping[str, Any],
        author: str = "annotator@example.com",
        label_type: str = "DEFAULT",
    ) -> str:
        """Submits a label as ``author`` (DEFAULT, or REVIEW for a reviewer)."""
        return self.submit_many(project_id, [(asset_id, json_response)], author=author, label_type=label_type)[0]

    def submit_many(
        self,
        project_id: str,
        labels: Sequence[tuple[str, Mapping[str, Any]]],
        author: str = "annotator@example.com",
        label_type: str = "DEFAULT",
    ) -> list[str]:
        """Submits ``[(asset_id, json_response)]`` as ``author``, 100 a call.

        Returns:
            the new label ids
        """
        author_id = self.user_id(author)
        ids: list[str] = []
        for start in range(0, len(labels), 100):
            chunk = labels[start : start + 100]
            created = self.graphql(
                "mutation($data: AppendManyLabelsData!, $where: AssetWhere!) "
                "{ data: appendManyLabels(data: $data, where: $where) { id } }",
                {
                    "data": {
                        "labelType": label_type,
                        "overwrite": False,
                        "labelsData": [
                            {"assetID": a, "jsonResponse": json.dumps(r), "authorID": author_id, "secondsToLabel": 5}
                            for a, r in chunk
                        ],
                    },
                    "where": {"project": {"id": project_id}, "idIn": [a for a, _ in chunk]},
                },
            )["data"]
            ids.extend(label["id"] for label in created)
        return ids

    def delete_assets(self, project_id: str, asset_ids: Iterable[str]) -> None:
        """Deletes assets from the project (as "Delete" in Kili's asset list)."""
        self.graphql(
            "mutation($where: AssetWhere!) { data: deleteAssets(where: $where) { succeeded { assetId } } }",
            {"where": {"project": {"id": project_id}, "idIn": list(asset_ids)}},
        )

    def project_exists(self, project_id: str) -> bool:
        """Whether the project is still on the server."""
        return bool(
            self.graphql(
                "query($where: ProjectWhere!) { data: countProjects(where: $where) }", {"where": {"id": project_id}}
            )["data"]
        )

    def set_marks(
        self,
        project_id: str,
        asset_ids: Collection[str],
        consensus_mark: float | None = None,
        honeypot_mark: float | None = None,
        is_honeypot: bool | None = None,
    ) -> None:
        """Sets the consensus/honeypot marks of assets (as Kili computes them)."""
        data: dict[str, Any] = {}
        if consensus_mark is not None:
            data["consensusMark"] = consensus_mark
        if honeypot_mark is not None:
            data["honeypotMark"] = honeypot_mark
        if is_honeypot is not None:
            data["isHoneypot"] = is_honeypot
        self.graphql(
            "mutation($whereArray: [AssetWhere!]!, $dataArray: [AssetData!]!) "
            "{ data: updatePropertiesInAssets(where: $whereArray, data: $dataArray) { id } }",
            {
                "whereArray": [{"id": a, "project": {"id": project_id}} for a in asset_ids],
                "dataArray": [dict(data) for _ in asset_ids],
            },
        )


class KiliDemoResults(Protocol):
    """What :func:`demo_edits` reads of the demo run's results."""

    @property
    def project_id(self) -> str: ...

    @property
    def asset_ids(self) -> Mapping[str, str]: ...

    @property
    def interface_mapping(self) -> Mapping[str, Any]: ...


def _decode(value: Any) -> Any:
    if isinstance(value, str):
        return json.loads(value) if value else None
    return value


def demo_edits(server: DemoServer, results: KiliDemoResults, classes: Sequence[str], rng: random.Random) -> None:
    """The demo's people (``python -m fo_annotation_backends.demo --backend
    kili``): the same edits as Label Studio's demo person, as DEFAULT labels
    by one annotator in Kili's editor, one in three reviewed by another."""
    annotator = KiliAnnotator(server.url, server.api_key)
    mapping = results.interface_mapping
    job = mapping["jobs"]["ground_truth"]
    keys = mapping["categories"]["ground_truth"]
    class_of_key = {v: k for k, v in keys.items()}
    for n, (_sample_id, asset_id) in enumerate(sorted(results.asset_ids.items())):
        response = annotator.prefilled(results.project_id, asset_id)
        boxes = response.setdefault(job, {"annotations": []})["annotations"]
        if n % 4 == 0 and boxes:  # move and relabel the first box
            vertices = boxes[0]["boundingPoly"][0]["normalizedVertices"]
            shift = min(0.05, 1.0 - max(v["x"] for v in vertices))
            for vertex in vertices:
                vertex["x"] += shift
            name = class_of_key[boxes[0]["categories"][0]["name"]]
            boxes[0]["categories"] = [
                {"name": keys[classes[(classes.index(name) + 1) % len(classes)]], "confidence": 100}
            ]
        if n % 4 == 1 and boxes:  # delete the last box
            boxes.pop()
        if n % 4 == 2:  # add a box the model missed
            boxes.append(
                {
                    "mid": "new%05d" % n,
                    "type": "rectangle",
                    "categories": [{"name": keys[rng.choice(classes)], "confidence": 100}],
                    "boundingPoly": [
                        {
                            "normalizedVertices": [
                                {"x": 0.05, "y": 0.2},
                                {"x": 0.05, "y": 0.05},
                                {"x": 0.25, "y": 0.05},
                                {"x": 0.25, "y": 0.2},
                            ]
                        }
                    ],
                    "children": {},
                }
            )
        if n % 4 == 3 and n % 8 == 7:
            continue  # nobody opened this one: it keeps its labels
        annotator.submit(results.project_id, asset_id, response, author="annotator@example.com")
        if n % 3 == 0:  # a reviewer accepts it as it is
            annotator.submit(results.project_id, asset_id, response, author="reviewer@example.com", label_type="REVIEW")
