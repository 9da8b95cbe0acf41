"""One round of a FiftyOne annotation backend (ours, or a built-in one), in a
fresh subprocess: ``import``, ``annotate()``, a pause in which the parent
plays the annotator, ``load_annotations()``, ``results.cleanup()``; or, for a
scaling sweep, ``import``, ``annotate()`` and ``cleanup()`` only.

The spec (JSON, written by :meth:`harness.parent.Bench.run_fiftyone`):
``backend``, ``config_cls``, ``url``, ``api_key`` (the backend's
registration), ``dataset``, ``anno_key``, ``config`` (more ``annotate()``
parameters), ``modules`` (what the ``import`` phase imports: ``"module"`` or
``"module:attribute"``), ``breakdown`` (entries of
:class:`harness.measure.Breakdown`), ``profile_prefix``, ``fresh_window``
(reset the emulator's budget window before ``annotate()``), ``config_keys``
(config values to record), ``mode`` (``"round"`` or ``"sweep"``), and the
:class:`harness.measure.Meter` keys.
"""

from __future__ import annotations

import importlib
from typing import Any

from harness.measure import Breakdown, Meter, pause_for_parent
from harness.workload import FIELD, LABEL_SCHEMA, image_index, labels_summary


def _import(modules: list[str]) -> None:
    for reference in modules:
        name, _, attribute = reference.partition(":")
        module = importlib.import_module(name)
        if attribute:
            getattr(module, attribute)


def run(bench: Any, spec: dict, out: dict) -> None:
    """The round described by ``spec``; figures go to ``out``. ``bench``
    (the service's :class:`harness.parent.Bench`) says which items a run
    uploaded (:meth:`run_items`) and how its cleanup is measured."""
    meter = Meter(spec, out)
    breakdown = None
    try:
        import fiftyone as fo

        backend = spec["backend"]
        fo.annotation_config.backends[backend] = {
            "config_cls": spec["config_cls"],
            "url": spec["url"],
            "api_key": spec["api_key"],
        }
        dataset = fo.load_dataset(spec["dataset"])
        ids_before = set(dataset.values(FIELD + ".detections.id", unwind=True))  # connects to the database too
        profile = spec.get("profile_prefix")
        meter.measure("import", lambda: _import(spec["modules"]))
        if spec.get("breakdown"):
            breakdown = Breakdown(meter)
            breakdown.install(spec["breakdown"])
        if spec.get("fresh_window") and meter.control is not None:
            meter.control.reset_stats()
        key = spec["anno_key"]
        results = meter.measure(
            "annotate",
            lambda: dataset.annotate(key, backend=backend, label_schema=LABEL_SCHEMA, **spec.get("config", {})),
            profile_path=profile and profile + "annotate",
        )
        items = bench.run_items(results)
        out["project_id"] = getattr(results, "project_id", None)
        out["items"] = len(items)
        out["config"] = {
            k: getattr(results.config, k) for k in spec.get("config_keys", ()) if hasattr(results.config, k)
        }
        if spec.get("mode") != "sweep":
            paths = dict(zip(*dataset.values(["id", "filepath"])))
            index_of = {str(item): image_index(paths[sample]) for item, sample in items.items()}
            out["annotator"] = pause_for_parent({"project_id": out["project_id"], "items": index_of})
            meter.measure(
                "load_annotations", lambda: dataset.load_annotations(key), profile_path=profile and profile + "load"
            )
            out["labels_after_load"] = dataset.count(FIELD + ".detections")
            out["summary"] = labels_summary(dataset)
            ids_after = dataset.values(FIELD + ".detections.id", unwind=True)
            out["ids_kept"] = sum(1 for i in ids_after if i in ids_before)
            out["ids_new"] = len(ids_after) - out["ids_kept"]
        bench.worker_cleanup(results, spec, out, meter)
        try:
            dataset.delete_annotation_run(key)
        except Exception:
            pass
    finally:
        meter.stop()
        if breakdown is not None:
            out["breakdown"] = breakdown.as_dict()
            out["breakdown_missing"] = breakdown.missing
