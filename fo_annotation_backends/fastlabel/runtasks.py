"""What a stored FastLabel run does with its tasks: download, status and
cleanup, each starting from the run's project as the server has it now (a
deleted project is a :class:`~..core.errors.ProjectDeletedError`, never a
raw 404; a renamed slug is followed)."""

from __future__ import annotations

import collections
import concurrent.futures
from typing import TYPE_CHECKING, Any

from ..core.backend import Annotations
from ..core.download import build_annotations
from ..core.errors import ProjectDeletedError
from ..core.runs import RunStatus, remove_run_items, status_dict
from ..core.schema import FieldSpec, normalize_label_schema
from ..core.secrets import get_logger
from .convert import task_to_labels
from .upload import SUPPORTED_TYPES, is_run_task_name

if TYPE_CHECKING:
    from fiftyone.core.labels import Label

    from .backend import FastLabelAnnotationResults, FastLabelBackend
    from .client import FastLabelClient

logger = get_logger(__name__)

#: the statuses that count as reviewed in ``get_status()``
REVIEWED_STATUSES = ("reviewed", "approved")


def live_project(client: FastLabelClient, results: FastLabelAnnotationResults) -> dict[str, Any]:
    """The run's project as the server has it now.

    Raises:
        ProjectDeletedError: the project no longer exists
    """
    project = None
    if results.project_id is not None:
        project = client.project(results.project_id)
    elif results.project_slug is not None:
        project = client.find_project(results.project_slug)
    if project is None:
        key = results.key
        raise ProjectDeletedError(
            "FastLabel project %s of run '%s' no longer exists (deleted by cleanup() or in FastLabel): there is "
            "nothing to load, and the dataset was not changed. Remove the run with "
            "`dataset.delete_annotation_run('%s')`" % (results.project_slug, key, key),
            status_code=404,
        )
    return project


def run_tasks(client: FastLabelClient, results: FastLabelAnnotationResults, slug: str) -> dict[str, dict[str, Any]]:
    """``{task_id: task}`` of the run's recorded tasks that still exist:
    one listing of the tasks tagged with the run key, then each recorded
    task the listing missed (a person removed its tag) by id."""
    ours = set(results.task_ids.values())
    found: dict[str, dict[str, Any]] = {}
    for task in client.iter_tasks(results.task_endpoint, slug, tag=results.key):
        if task["id"] in ours:
            found[task["id"]] = task
    for task_id in ours - set(found):
        missing = client.task(results.task_endpoint, task_id)
        if missing is not None:
            found[task_id] = missing
    return found


def download(backend: FastLabelBackend, results: FastLabelAnnotationResults) -> Annotations:
    """``download_annotations`` of a finished FastLabel run."""
    config = results.config
    fields = normalize_label_schema(config.label_schema, results.samples, SUPPORTED_TYPES)
    interface = results.interface(fields)
    client = backend.connect_to_api()
    project = live_project(client, results)
    tasks = run_tasks(client, results, project["slug"])
    statuses = set(config.load_statuses)
    sample_of = {t: s for s, t in results.task_ids.items()}
    annotated = {sample_of[task_id]: task for task_id, task in tasks.items() if task.get("status") in statuses}
    logger.info(
        "%d of %d tasks have a status whose annotations are loaded (%s)",
        len(annotated),
        len(results.task_ids),
        ", ".join(sorted(statuses)),
    )
    missing = len(results.task_ids) - len(tasks)
    if missing:
        logger.warning("%d tasks of this run no longer exist in FastLabel; their samples keep their labels", missing)
    annotation_ids = results.annotation_ids
    new_ids: dict[str, str] = {}

    def convert(spec: FieldSpec, task: dict[str, Any], uploaded: dict[str, Label], sample_id: str) -> Any:
        return task_to_labels(interface, spec, task, annotation_ids, uploaded, new_ids)

    out = build_annotations(results.samples, fields, results.id_map, list(results.task_ids), annotated, convert)
    # FiftyOne adds the new labels to the run's id_map and saves the results
    # after the merge: remembering their FastLabel ids keeps them on a reload
    annotation_ids.update(new_ids)
    for field in fields:
        if interface.is_numeric_scalar(field):
            _one_number_type(out[field].get("scalar", {}))
    return out


def _one_number_type(values: dict[str, Any]) -> None:
    """Floats for every value of a numeric field when one is a float (a
    field holds one type: an int field would truncate 2.5)."""
    if any(isinstance(v, float) for v in values.values()):
        for sample_id, value in values.items():
            if isinstance(value, int) and not isinstance(value, bool):
                values[sample_id] = float(value)


def status(backend: FastLabelBackend, results: FastLabelAnnotationResults) -> RunStatus:
    """``get_status()`` of a FastLabel run (see :func:`~..core.runs.status_dict`)."""
    client = backend.connect_to_api()
    project = live_project(client, results)
    tasks = run_tasks(client, results, project["slug"])
    statuses: collections.Counter[str] = collections.Counter()
    assignees: collections.Counter[str] = collections.Counter()
    for task in tasks.values():
        statuses[task.get("status") or "unknown"] += 1
        assignees[task.get("assignee") or "unassigned"] += 1
    load_statuses = list(results.config.load_statuses)
    labeled = sum(n for s, n in statuses.items() if s in load_statuses)
    reviewed = sum(n for s, n in statuses.items() if s in REVIEWED_STATUSES)
    return status_dict(
        results.project_id,
        len(results.task_ids),
        labeled,
        reviewed,
        len(results.task_ids) - len(tasks),
        {},
        project_slug=project["slug"],
        statuses=dict(statuses),
        assignees=dict(assignees),
        loadable=labeled,
        load_statuses=load_statuses,
    )


def cleanup(backend: FastLabelBackend, results: FastLabelAnnotationResults) -> None:
    """Deletes the run from FastLabel: its tasks by id, and the project
    only when the run created it and nothing else is in it. An unfinished
    run also deletes the tasks that carry its mark but were never recorded.
    A project already deleted is a no-op."""
    if results.project_id is None and results.project_slug is None:
        logger.info("Run '%s' has nothing on FastLabel to clean up", results.key)
        return
    client = backend.connect_to_api()
    try:
        project = live_project(client, results)
    except ProjectDeletedError:
        logger.info("FastLabel project %s is already deleted; nothing to clean up", results.project_slug)
        return
    slug = project["slug"]
    ours = set(results.task_ids.values())
    listed: list[tuple[str, str | None]] = []
    if results.project_created or not results.upload_complete:
        listed = [(t["id"], t.get("name")) for t in client.iter_tasks(results.task_endpoint, slug, tag=results.key)]
    if not results.upload_complete:
        ours |= {task_id for task_id, name in listed if is_run_task_name(name, results.config.run_id)}
    present = ours & {task_id for task_id, _ in listed}

    def other_tasks_exist() -> bool:
        return client.count_tasks(slug) > len(present)

    def delete_project() -> None:
        client.delete_project(project["id"])
        logger.info("Deleted FastLabel project %s", slug)

    def delete_tasks() -> None:
        workers = max(1, int(results.config.upload_workers or 1))
        with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="fastlabel-cleanup") as pool:
            list(pool.map(client.delete_task, sorted(ours)))
        logger.info("Deleted the %d tasks of run '%s' from FastLabel project %s", len(ours), results.key, slug)

    remove_run_items(results.project_created, other_tasks_exist, delete_project, delete_tasks)
