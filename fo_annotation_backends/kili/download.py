"""Loading a Kili run: the label that counts of every asset of the run,
converted back to FiftyOne labels under their original ids."""

from ..core.download import build_annotations
from ..core.media import is_remote, sample_image_sizes
from ..core.schema import normalize_label_schema
from ..core.secrets import get_logger
from .backend import SUPPORTED_TYPES, select_label
from .client import ASSET_FIELDS, LABEL_FIELDS, loads_json_field
from .convert import json_response_to_labels

logger = get_logger(__name__)


class Downloader:
    """One ``download_annotations()`` of the Kili backend."""

    def __init__(self, backend, results):
        self.backend = backend
        self.results = results
        self.config = results.config

    def run(self):
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
        annotated = {}
        resolutions = {}
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

        def convert(spec, response, uploaded, sample_id):
            return json_response_to_labels(interface, spec, response, uploaded, image_sizes.get(sample_id))

        return build_annotations(results.samples, fields, results.id_map, list(results.asset_ids), annotated, convert)

    def _image_sizes(self, interface, annotated, resolutions):
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
