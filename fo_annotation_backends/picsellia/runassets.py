"""What a stored Picsellia run does with its assets: download, status and
cleanup, each starting from the run's version as the server has it now (a
deleted version is a :class:`~..core.errors.ProjectDeletedError`, never a
raw 404)."""

from __future__ import annotations

import collections
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..core import regions
from ..core.backend import Annotations
from ..core.download import build_annotations
from ..core.errors import ProjectDeletedError
from ..core.idmap import recorded_ids
from ..core.media import sample_image_sizes
from ..core.runs import RunStatus, remove_run_items, status_dict
from ..core.schema import FieldSpec, normalize_label_schema
from ..core.secrets import get_logger
from .convert import foreign_regions, scalar_value, shapes_to_regions, unchanged_instances
from .upload import SUPPORTED_TYPES

if TYPE_CHECKING:
    from fiftyone.core.labels import Label

    from .backend import PicselliaAnnotationResults, PicselliaBackend
    from .client import JsonDict, PicselliaClient

logger = get_logger(__name__)

#: the version types whose loads the SDK asks 10 at a time (heavy shapes)
HEAVY_TYPES = ("SEGMENTATION", "LINE", "MULTI", "MASK")


def live_version(client: PicselliaClient, results: PicselliaAnnotationResults) -> JsonDict:
    """The run's version as the server has it now.

    Raises:
        ProjectDeletedError: the version no longer exists
    """
    version = client.get_version(results.version_id) if results.version_id else None
    if version is None:
        key = results.key
        raise ProjectDeletedError(
            "Picsellia dataset version %s of run '%s' no longer exists (deleted by cleanup() or in Picsellia): there "
            "is nothing to load, and the dataset was not changed. Remove the run with "
            "`dataset.delete_annotation_run('%s')`" % (results.version_id, key, key),
            status_code=404,
        )
    return version


def run_assets(client: PicselliaClient, results: PicselliaAnnotationResults) -> dict[str, str]:
    """``{sample_id: asset id}`` of the run's assets still in the version."""
    present = {a["id"] for a in client.xget_many(_assets_path(results), "ids", list(results.asset_ids.values()))}
    return {s: a for s, a in results.asset_ids.items() if a in present}


def _assets_path(results: PicselliaAnnotationResults) -> str:
    return "/api/dataset/version/%s/assets" % results.version_id


def annotations_by_asset(
    client: PicselliaClient, version: JsonDict, asset_ids: Sequence[str]
) -> dict[str, list[JsonDict]]:
    """``{asset id: [annotation, ...]}``, newest first, with their shapes."""
    version_id = version["id"]
    ids = client.annotation_ids(version_id, list(asset_ids))
    per_request = 10 if version.get("type") in HEAVY_TYPES else 100
    out: dict[str, list[JsonDict]] = collections.defaultdict(list)
    for annotation in client.load_annotations(version_id, ids, per_request=per_request):
        out[annotation["asset_id"]].append(annotation)
    return dict(out)


def select_annotation(annotations: Sequence[Mapping[str, Any]], selection: str) -> Mapping[str, Any] | None:
    """The annotation that counts (``annotations`` newest first): the newest
    ACCEPTED one (``"accepted"``) or the newest not SKIPPED (``"latest"``)."""
    for annotation in annotations:
        status = annotation.get("status")
        if (selection == "accepted" and status == "ACCEPTED") or (selection == "latest" and status != "SKIPPED"):
            return annotation
    return None


def download(backend: PicselliaBackend, results: PicselliaAnnotationResults) -> Annotations:
    """``download_annotations`` of a finished Picsellia run."""
    config = results.config
    fields = normalize_label_schema(config.label_schema, results.samples, SUPPORTED_TYPES)
    interface = results.interface(fields)
    client = backend.connect_to_api()
    version = live_version(client, results)
    present = run_assets(client, results)
    by_asset = annotations_by_asset(client, version, list(present.values()))
    annotated: dict[str, Mapping[str, Any]] = {}
    for sample_id, asset_id in present.items():
        chosen = select_annotation(by_asset.get(asset_id, []), config.label_selection)
        if chosen is not None:
            annotated[sample_id] = chosen
    logger.info(
        "%d of %d assets have an annotation that counts (%s)",
        len(annotated),
        len(results.asset_ids),
        config.label_selection,
    )
    missing = len(results.asset_ids) - len(present)
    if missing:
        logger.warning("%d assets of this run were removed in Picsellia; their samples keep their labels", missing)
    sample_ids = list(results.asset_ids)
    paths = results.samples.select(sample_ids, ordered=True).values(config.media_field)
    sizes = sample_image_sizes(results.samples, sample_ids, paths)
    new_ids = regions.NewLabelIds(results.new_label_ids)
    foreign: dict[str, dict[str, dict[str, Any]]] = {field: {} for field in fields}

    def on_new(label: Label, parts: regions.Parts) -> None:
        origin = parts[0][1].region_id if parts else None
        new_ids.assign(label, origin)

    def convert(spec: FieldSpec, annotation: Mapping[str, Any], uploaded: dict[str, Label], sample_id: str) -> Any:
        if spec.type == "scalar":
            return scalar_value(spec, interface, annotation)
        width, height = sizes[sample_id]
        found = shapes_to_regions(interface, annotation, width, height, uploaded, field=spec.name).get(spec.name, [])
        if interface.version_type == "MULTI" and spec.type not in ("classification", "classifications"):
            drawn = regions.foreign_labels(
                spec, foreign_regions(interface, annotation, width, height, spec.name), on_new
            )
            for return_type, labels in drawn.items():
                foreign[spec.name].setdefault(return_type, {})[sample_id] = labels
        known = recorded_ids(results.id_map.get(spec.name, {}).get(sample_id))
        if spec.type in ("classification", "classifications"):
            choices = [(r.label or "", r.attributes) for r in found if r.label]
            return regions.classifications_to_labels(spec, choices, uploaded, known, on_new=on_new)
        if spec.type == "segmentation":
            return regions.segmentation_to_labels(spec, found, uploaded, known, (width, height), on_new=on_new)
        labels = regions.regions_to_labels(spec, found, uploaded, known, (width, height), on_new=on_new)
        if spec.type == "instances":
            for label_id in unchanged_instances(annotation, uploaded, width, height) & set(labels):
                labels[label_id].bounding_box = list(uploaded[label_id].bounding_box)
                labels[label_id].mask = uploaded[label_id].get_mask()
        return labels

    out = build_annotations(results.samples, fields, results.id_map, sample_ids, annotated, convert)
    for field, by_type in foreign.items():
        out[field].update(by_type)
    # FiftyOne saves the results after the merge: the new labels keep their ids on a reload
    results.new_label_ids.update(new_ids.current)
    for field in fields:
        if interface.is_numeric_scalar(field):
            _one_number_type(out[field].get("scalar", {}))
    return out


def _one_number_type(values: dict[str, Any]) -> None:
    """Floats for every value when one is a float (a field holds one type)."""
    if any(isinstance(v, float) for v in values.values()):
        for sample_id, value in values.items():
            if isinstance(value, int) and not isinstance(value, bool):
                values[sample_id] = float(value)


def status(backend: PicselliaBackend, results: PicselliaAnnotationResults) -> RunStatus:
    """``get_status()`` of a Picsellia run (see :func:`~..core.runs.status_dict`)."""
    client = backend.connect_to_api()
    version = live_version(client, results)
    present = run_assets(client, results)
    by_asset = annotations_by_asset(client, version, list(present.values()))
    selection = results.config.label_selection
    statuses: collections.Counter[str] = collections.Counter()
    labeled = loadable = 0
    for asset_id in present.values():
        annotations = by_asset.get(asset_id, [])
        statuses[annotations[0].get("status") or "unknown" if annotations else "NONE"] += 1
        chosen = select_annotation(annotations, selection)
        if chosen is not None:
            loadable += 1
            labeled += chosen.get("status") != "PENDING"
    service: dict[str, Any] = {
        "version_id": results.version_id,
        "statuses": dict(statuses),
        "loadable": loadable,
        "label_selection": selection,
    }
    reviewed = 0
    if results.campaign_id and client.campaign(results.campaign_id) is not None:
        steps = client.steps(results.campaign_id)
        assignments = [a for a in client.assignments(results.campaign_id) if a.get("asset_id") in set(present.values())]
        per_step: dict[str, collections.Counter[str]] = {s["id"]: collections.Counter() for s in steps}
        assignees: collections.Counter[str] = collections.Counter()
        for assignment in assignments:
            per_step.setdefault(assignment.get("step_id") or "", collections.Counter())[
                str(assignment.get("status"))
            ] += 1
            assignees[assignment.get("assigned_user_id") or "unassigned"] += 1
        service["campaign_id"] = results.campaign_id
        service["steps"] = [
            {"name": s.get("name"), "type": s.get("type"), "statuses": dict(per_step[s["id"]])} for s in steps
        ]
        service["assignees"] = dict(assignees)
        review_steps = {s["id"] for s in steps if s.get("type") == "REVIEW"}
        reviewed = sum(1 for a in assignments if a.get("step_id") in review_steps and a.get("status") == "DONE")
    return status_dict(
        results.version_id,
        len(results.asset_ids),
        labeled,
        reviewed,
        len(results.asset_ids) - len(present),
        {},
        **service,
    )


def cleanup(backend: PicselliaBackend, results: PicselliaAnnotationResults) -> None:
    """Deletes what the run created: its campaign, its version (or, in a
    version it did not create, its assets), its data, and its dataset when
    it created it and no version is left in it."""
    if results.version_id is None:
        logger.info("Run '%s' has nothing on Picsellia to clean up", results.key)
        return
    client = backend.connect_to_api()
    version = client.get_version(results.version_id)
    if version is not None:
        if results.campaign_created and results.campaign_id:
            client.delete_campaign(results.campaign_id)
        ours = sorted(set(results.asset_ids.values()))

        def other_assets_exist() -> bool:
            return client.count_assets(results.version_id or "") > len(run_assets(client, results))

        def delete_version() -> None:
            client.delete_version(version["id"])
            logger.info("Deleted Picsellia version %s", version["id"])

        def delete_assets() -> None:
            client.delete_assets(version["id"], ours)
            logger.info(
                "Removed the %d assets of run '%s' from Picsellia version %s", len(ours), results.key, version["id"]
            )

        remove_run_items(results.version_created, other_assets_exist, delete_version, delete_assets)
    else:
        logger.info("Picsellia version %s is already deleted", results.version_id)
    if results.datalake_id and results.data_created:
        client.delete_data(results.datalake_id, list(results.data_created))
        logger.info("Deleted the %d images of run '%s' from the datalake", len(results.data_created), results.key)
    if results.dataset_created and results.dataset_id and not _dataset_has_versions(client, results.dataset_id):
        client.delete_dataset(results.dataset_id)
        logger.info("Deleted Picsellia dataset %s", results.dataset_id)


def _dataset_has_versions(client: PicselliaClient, dataset_id: str) -> bool:
    versions = client.dataset_versions(dataset_id)
    return bool(versions)
