"""Loading a Kili run: the label that counts of every asset of the run,
converted back to FiftyOne labels under their original ids; labels a person
added keep the ids of their first load (``results.added_label_ids``), and
regions drawn with another label type's tool come back as that type, for
FiftyOne's ``unexpected`` handling."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..core.backend import Annotations
from ..core.download import build_annotations
from ..core.idmap import load_current_labels, recorded_ids
from ..core.media import is_remote, sample_image_sizes
from ..core.schema import FieldSpec, normalize_label_schema
from ..core.secrets import get_logger
from .backend import SUPPORTED_TYPES, select_label
from .client import ASSET_FIELDS, LABEL_FIELDS, loads_json_field
from .convert import ImageSize, KiliInterface
from .from_kili import NewLabelIds, foreign_labels, json_response_to_labels

if TYPE_CHECKING:
    from fiftyone.core.labels import Label

    from .backend import KiliAnnotationResults, KiliBackend

logger = get_logger(__name__)


class Downloader:
    """One ``download_annotations()`` of the Kili backend."""

    def __init__(self, backend: KiliBackend, results: KiliAnnotationResults) -> None:
        self.backend = backend
        self.results = results
        self.config = results.config

    def run(self) -> Annotations:
        """``{field: {return_type: {sample_id: labels}}}`` for FiftyOne's merge.

        Raises:
            ProjectDeletedError: the run's project is gone (nothing changes)
        """
        results, config = self.results, self.config
        fields = normalize_label_schema(config.label_schema, results.samples, SUPPORTED_TYPES)
        interface = results.interface(fields)
        client = self.backend.connect_to_api()
        results.require_project(client)
        sample_of = {a: s for s, a in results.asset_ids.items()}
        logger.info("Downloading labels from Kili project %s...", results.project_id)
        annotated: dict[str, dict[str, Any]] = {}
        resolutions: dict[str, ImageSize] = {}
        found = 0
        for asset in results.iter_assets(client, "%s labels { %s }" % (ASSET_FIELDS, LABEL_FIELDS), filtered=True):
            found += 1
            sample_id = sample_of[asset["id"]]
            label = select_label(asset.get("labels"), config.label_selection, config.annotator)
            if label is not None:
                annotated[sample_id] = loads_json_field(label.get("jsonResponse")) or {}
                resolution = asset.get("resolution") or {}
                if resolution.get("width") and resolution.get("height"):
                    resolutions[sample_id] = (int(resolution["width"]), int(resolution["height"]))
        logger.info(
            "%d of %d assets have a label that counts (%d matched the filters)",
            len(annotated),
            len(results.asset_ids),
            found,
        )
        image_sizes = self._image_sizes(interface, annotated, resolutions)
        # a field deleted from a sample gets back whatever comes, ids included
        current = load_current_labels(results.samples, list(fields), list(annotated))
        previous_ids = results.added_label_ids
        added_ids = {field: dict(previous_ids.get(field) or {}) for field in fields}
        foreign: dict[str, dict[str, dict[str, Any]]] = {field: {} for field in fields}

        def convert(spec: FieldSpec, response: dict[str, Any], uploaded: dict[str, Label], sample_id: str) -> Any:
            field = spec.name
            new_ids = NewLabelIds(added_ids[field].pop(sample_id, None))
            uploaded_ids: list[Any] = []
            if current[field].get(sample_id) is None:
                uploaded_ids = recorded_ids(results.id_map.get(field, {}).get(sample_id))
            labels = json_response_to_labels(
                interface, spec, response, uploaded, image_sizes.get(sample_id), uploaded_ids, new_ids
            )
            for return_type, drawn in foreign_labels(interface, spec, response, new_ids).items():
                foreign[field].setdefault(return_type, {})[sample_id] = drawn
            if new_ids.current:
                added_ids[field][sample_id] = new_ids.current
            return labels

        out = build_annotations(results.samples, fields, results.id_map, list(results.asset_ids), annotated, convert)
        for field, by_type in foreign.items():
            out[field].update(by_type)
        # saved with the run by FiftyOne after the merge
        results.added_label_ids = {field: ids for field, ids in added_ids.items() if ids}
        return out

    def _image_sizes(
        self, interface: KiliInterface, annotated: Mapping[str, Any], resolutions: Mapping[str, ImageSize]
    ) -> dict[str, ImageSize]:
        if not interface.needs_image_size() or not annotated:
            return {}
        samples = self.results.samples
        ids = list(annotated)
        paths = samples.select(ids, ordered=True).values(self.config.media_field)
        local = [(i, p) for i, p in zip(ids, paths) if not is_remote(p)]
        sizes = {i: resolutions[i] for i, p in zip(ids, paths) if is_remote(p) and i in resolutions}
        remote_unknown = [(i, p) for i, p in zip(ids, paths) if is_remote(p) and i not in resolutions]
        todo = local + remote_unknown
        if todo:
            sizes.update(sample_image_sizes(samples, [i for i, _ in todo], [p for _, p in todo]))
        return sizes
