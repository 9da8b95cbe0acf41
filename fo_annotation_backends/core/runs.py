"""What a run owns on a service, and one failure policy for every backend.

Ownership is recorded, never guessed:

- every run gets a ``run_id`` (a random hex string) in its config, stored
  with the run record *before* the first request; a backend marks what it
  creates with it (a project description, a task's data, a slug), so that
  an attempt killed before it could record anything is found again;
- the project a run creates is recorded with the run as soon as it exists
  (:meth:`RunOwnershipMixin.record_partial` saves the results early, marked
  ``upload_complete=False``); the run's items (tasks, assets) are recorded
  by id in its results;
- ``cleanup()`` deletes the run's items by id, and the project only when
  this run created it and nothing else is in it (:func:`remove_run_items`).

The failure policy (:func:`handle_failed_upload`): a failure after the first
object exists either rolls back exactly what that call created (when the run
then owns nothing on the service) and unregisters the run, or leaves the run
registered as unfinished with an :class:`UploadInterruptedError` saying how to
resume: the same ``annotate()`` call, which :meth:`~RunOwnershipMixin.register_run`
recognises, so that nothing is created twice. A process killed mid-upload is
recovered the same way.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypedDict, Union

from . import compat
from .errors import ParameterError, UploadInterruptedError
from .secrets import get_logger

if TYPE_CHECKING:
    from fiftyone.core.annotation import AnnotationInfo
    from fiftyone.core.collections import SampleCollection
    from fiftyone.utils.annotations import AnnotationBackend as _BackendBase, AnnotationResults
else:
    # the mixin is mixed into an AnnotationBackend; to type checkers it is one
    _BackendBase = object

logger = get_logger(__name__)

#: the keys every backend's ``get_status()`` returns
STATUS_KEYS = ("project_id", "total", "labeled", "reviewed", "unlabeled", "missing", "annotators", "service")

#: a project's id on a service (Label Studio: an int; Kili, FastLabel: a string)
ProjectId = Union[int, str]


class RunStatus(TypedDict):
    """What every backend's ``get_status()`` returns (see :func:`status_dict`)."""

    project_id: ProjectId | None
    total: int
    labeled: int
    reviewed: int
    unlabeled: int
    missing: int
    annotators: dict[str, int]
    service: dict[str, Any]


def new_run_id() -> str:
    """A new run id: 32 hex digits."""
    return uuid.uuid4().hex


class ResumeState:
    """What an unfinished earlier attempt of the same run left.

    Attributes:
        run_id: the run id of the earlier attempt (kept by the new one)
        results: its partial results (``upload_complete=False``), or
            ``None`` when it was stopped before it recorded anything
    """

    def __init__(self, run_id: str, results: AnnotationResults | None = None) -> None:
        self.run_id = run_id
        self.results = results

    @property
    def project_id(self) -> ProjectId | None:
        """The project the earlier attempt recorded, or ``None``."""
        return getattr(self.results, "project_id", None)

    @property
    def project_created(self) -> bool:
        """Whether the earlier attempt created :attr:`project_id`."""
        return bool(self.results is not None and getattr(self.results, "project_created", False))

    def __repr__(self) -> str:
        return "ResumeState(run_id=%r, project_id=%r)" % (self.run_id, self.project_id)


class RunOwnershipMixin(_BackendBase):
    """The run-record half of every backend of this package (mixed into an
    ``AnnotationBackend``): run ids, resuming unfinished runs, the early
    record of what a run created, and the failure policy's bookkeeping."""

    #: set by :meth:`register_run` when an unfinished attempt is resumed
    resume_state: ResumeState | None = None
    _keep_run = False
    #: FiftyOne's cached API client
    _api: Any

    def register_run(
        self, samples: SampleCollection, key: str | None, overwrite: bool = True, cleanup: bool = True
    ) -> None:
        """Registers the run; an unfinished earlier attempt under the same
        key (a failed or killed upload of this backend) is resumed instead
        of refused, and any other existing run gets an error saying how to
        proceed."""
        self.resume_state = None
        self._keep_run = False
        if key is not None and key in self.list_runs(samples):
            earlier = self._unfinished_attempt(samples, key)
            if earlier is not None:
                logger.info("Resuming the unfinished upload of run '%s' (run id %s)", key, earlier.run_id)
                self.resume_state = earlier
                self.config.run_id = earlier.run_id
                overwrite, cleanup = True, False
            elif not overwrite:
                raise ParameterError(_existing_run_message(samples, key, self.get_run_info(samples, key)))
        if getattr(self.config, "run_id", None) is None:
            self.config.run_id = new_run_id()
        super().register_run(samples, key, overwrite=overwrite, cleanup=cleanup)

    def _unfinished_attempt(self, samples: SampleCollection, key: str) -> ResumeState | None:
        try:
            info = self.get_run_info(samples, key)
        except Exception:
            return None
        if type(info.config) is not type(self.config) or not getattr(info.config, "run_id", None):
            return None
        try:
            results = self.load_run_results(samples, key, cache=False)
        except Exception as e:
            logger.warning("Could not read the results of run '%s' (%s); treating it as finished", key, e)
            return None
        if results is not None and getattr(results, "upload_complete", True):
            return None
        return ResumeState(info.config.run_id, results)

    def record_partial(self, samples: SampleCollection, key: str, results: AnnotationResults) -> None:
        """Saves ``results`` (what the upload created so far, e.g. the
        project) with the run, marked ``upload_complete=False``: written as
        soon as a project exists, so that a killed process leaves a record."""
        results.upload_complete = False
        self.save_run_results(samples, key, results, cache=False)

    def keep_run(self) -> None:
        """Marks the run as resumable: a failing upload leaves it registered."""
        self._keep_run = True

    def _after_failed_upload(self, samples: SampleCollection, key: str) -> None:
        """Unregisters a run that owns nothing on the service; puts back the
        record of a resumed attempt that this call could not improve."""
        if self._keep_run:
            return
        try:
            if self.resume_state is not None:
                self.save_run_results(samples, key, self.resume_state.results, cache=False)
            else:
                self.delete_run(samples, key, cleanup=False)
        except Exception as e:  # keep the original error
            logger.warning("Could not update the record of run '%s': %s", key, e)

    def __exit__(self, *args: object) -> None:
        # FiftyOne closes the API but keeps it: drop it, a closed client
        # cannot send again
        try:
            super().__exit__(*args)
        finally:
            self._api = None


def _existing_run_message(samples: SampleCollection, key: str, info: AnnotationInfo) -> str:
    dataset = compat.root_dataset(samples).name
    backend = getattr(info.config, "name", None) or type(info.config).__name__
    return (
        "Dataset '%s' already has an annotation run '%s' (backend %s). Use another run key, or load it "
        "(`dataset.load_annotations('%s')`), or replace it: `dataset.load_annotation_results('%s').cleanup()` "
        "(deletes what it created on the service), then `dataset.delete_annotation_run('%s')`"
        % (dataset, key, backend, key, key, key)
    )


def handle_failed_upload(
    backend: RunOwnershipMixin,
    samples: SampleCollection,
    anno_key: str,
    error: BaseException,
    done: int,
    total: int,
    items: str,
    project: str | int | None,
    partial_results: AnnotationResults,
    roll_back: Callable[[], object] | None = None,
    owned_before: bool = False,
) -> None:
    """Applies the failure policy to an upload that stopped with ``error``.

    - When the run has no item on the service (``done == 0``) and owned
      nothing before this call, ``roll_back()`` deletes what this call created
      (its project, or the config it changed in a reused project) and the run
      is unregistered (by the backend's ``upload_annotations``): the error
      goes on as it is.
    - Otherwise the run stays registered as unfinished, with
      ``partial_results`` saved (the project, what is known of the items),
      and an :class:`UploadInterruptedError` (chained to ``error``) says to
      run the same ``annotate()`` call again to resume, or how to discard it.
      A ``KeyboardInterrupt`` is re-raised as it is, after the same record.

    Args:
        backend: the backend (a :class:`RunOwnershipMixin`)
        samples: the run's samples
        anno_key: the run key
        error: the exception that stopped the upload
        done: how many of the run's items the service has
        total: how many items the run has
        items: what they are called ("assets", "tasks")
        project: the project (id or slug), for the message
        partial_results: the run's results as far as they are known
        roll_back (None): a callable deleting what this call created
        owned_before (False): whether the run owned something on the
            service before this call (a project created by an earlier attempt)
    """
    if done == 0 and not owned_before:
        if roll_back is not None:
            try:
                logger.info("The upload failed before any %s existed; rolling back what it created", items)
                roll_back()
            except Exception as e:
                logger.warning("Could not roll back the failed upload (project %s): %s", project, e)
        return
    backend.keep_run()
    try:
        backend.record_partial(samples, anno_key, partial_results)
    except Exception as e:
        logger.warning("Could not record the unfinished run '%s': %s", anno_key, e)
    message = (
        "The upload of run '%s' stopped after %d of %d %s (%s: %s). Project %s keeps them and the run stays "
        "registered as unfinished: run the same annotate() call again (run key '%s') to resume; nothing is sent "
        "twice. To discard it instead: `dataset.load_annotation_results('%s').cleanup()`, then "
        "`dataset.delete_annotation_run('%s')`"
        % (anno_key, done, total, items, type(error).__name__, error, project, anno_key, anno_key, anno_key)
    )
    if isinstance(error, Exception):
        raise UploadInterruptedError(message, project=project, uploaded=done, total=total, anno_key=anno_key) from error
    logger.warning(message)


def remove_run_items(
    project_created: bool,
    other_items_exist: Callable[[], bool],
    delete_project: Callable[[], object],
    delete_items: Callable[[], object],
) -> bool:
    """The cleanup policy: the run's items are deleted by id, and the whole
    project (one request) only when this run created it and nothing else is
    in it.

    Args:
        project_created: whether the run created the project (recorded)
        other_items_exist: a callable telling whether the project holds
            items that are not this run's
        delete_project: a callable deleting the project
        delete_items: a callable deleting the run's items

    Returns:
        True if the project was deleted, False if only the items were
    """
    if project_created and not other_items_exist():
        delete_project()
        return True
    delete_items()
    return False


def status_dict(
    project_id: ProjectId | None,
    total: int,
    labeled: int,
    reviewed: int,
    missing: int,
    annotators: Mapping[str, int],
    **service: Any,
) -> RunStatus:
    """The ``get_status()`` answer every backend gives.

    Args:
        project_id: the project
        total: the run's items
        labeled: items with a human annotation that counts
        reviewed: labeled items that were reviewed
        missing: items deleted on the service
        annotators: ``{annotator: annotations}``
        **service: what only this service has (statuses, skipped, ...),
            under the ``service`` key

    Returns:
        a :class:`RunStatus`, the keys :data:`STATUS_KEYS`; ``unlabeled`` is
        ``total - labeled - missing``
    """
    return {
        "project_id": project_id,
        "total": total,
        "labeled": labeled,
        "reviewed": reviewed,
        "unlabeled": total - labeled - missing,
        "missing": missing,
        "annotators": dict(annotators),
        "service": service,
    }
