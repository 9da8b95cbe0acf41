"""The FiftyOne App plugin (``fiftyone.yml`` + ``fo_annotation_backends.plugin``):
discovered from FIFTYONE_PLUGINS_DIR, its operators run end to end with
``execute_operator`` against the Kili and FastLabel emulators, its panel's
events run the same way."""

import asyncio
import os
import secrets

import fiftyone as fo
import fiftyone.operators as foo
import pytest
from dataset_helpers import add_images, dets
from fiftyone.operators.executor import ExecutionError, execute_or_delegate_operator, resolve_type
from fiftyone.operators.registry import OperatorRegistry
from kili_helpers import box_annotation, job, key

from fo_annotation_backends.core.secrets import redact
from fo_annotation_backends.plugin import helpers
from fo_annotation_backends.plugin.helpers import preview_load
from fo_annotation_backends.registry import SERVICES
from fo_annotation_backends.testing.registration import registered_backend

pytestmark = pytest.mark.integration

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLUGIN = "@fo-annotation-backends/annotation"
REQUEST = PLUGIN + "/request_annotations"
LOAD = PLUGIN + "/load_annotations"
STATUS = PLUGIN + "/get_annotation_status"
CLEANUP = PLUGIN + "/cleanup_annotations"
DELETE = PLUGIN + "/delete_annotation_run"
PANEL = PLUGIN + "/annotation_runs"
KILI_CONFIG_CLS = "fo_annotation_backends.kili.KiliBackendConfig"
FASTLABEL_CONFIG_CLS = "fo_annotation_backends.fastlabel.FastLabelBackendConfig"
#: the manifest's secrets: each service's url and key variables
SECRETS = [
    env
    for service in SERVICES
    for env in ("FIFTYONE_%s_URL" % service.name.upper(), "FIFTYONE_%s_API_KEY" % service.name.upper())
]


@pytest.fixture(autouse=True)
def plugins_dir(tmp_path_factory, monkeypatch):
    """A plugins directory holding a symlink to the repository root, set
    before FiftyOne looks for plugins (it reads ``fo.config.plugins_dir``
    each time it lists them); no secret comes from the caller's
    environment."""
    folder = tmp_path_factory.mktemp("plugins")
    os.symlink(ROOT, str(folder / "fo-annotation-backends"))
    monkeypatch.setenv("FIFTYONE_PLUGINS_DIR", str(folder))
    monkeypatch.setattr(fo.config, "plugins_dir", str(folder))
    for name in SECRETS:
        monkeypatch.delenv(name, raising=False)
    return folder


def run(operator_uri, dataset=None, view=None, selected=None, **params):
    """``execute_operator`` with the App's context keys."""
    ctx = {"params": params}
    if view is not None:
        ctx["view"] = view
    else:
        ctx["dataset"] = dataset
    if selected:
        ctx["selected"] = list(selected)
    return foo.execute_operator(operator_uri, ctx=ctx)


def run_quietly(operator_uri, dataset, **params):
    """The :class:`ExecutionResult` of an execution, errors included (what
    the App receives)."""
    request = {"dataset_name": dataset.name, "view": dataset.view()._serialize(), "params": params}
    return asyncio.run(execute_or_delegate_operator(operator_uri, request, exhaust=True))


def form(operator_uri, dataset=None, view=None, selected=None, **params):
    """The operator's resolved input form as the App gets it (JSON)."""
    view = view if view is not None else dataset.view()
    request = {"dataset_name": view._root_dataset.name, "view": view._serialize(), "params": params}
    if selected:
        request["selected"] = list(selected)
    prop = asyncio.run(resolve_type(OperatorRegistry(), operator_uri, request))
    return prop.to_json()


def panel_event(dataset, method, state=None, **params):
    """Runs a panel event; returns (the App operations it triggered, the
    rendered panel)."""
    result = run(PANEL, dataset, panel_id="panel-1", __method__=method, panel_state=state or {}, **params)
    requests = result.executor.to_json()["requests"]
    rendered = [r["params"]["output"] for r in requests if r["operator_uri"] == "show_panel_output"]
    return requests, (rendered[-1] if rendered else None)


def _state_patches(requests):
    out = {}
    for r in requests:
        if r["operator_uri"] == "patch_panel_state":
            out.update(r["params"]["state"])
    return out


def _boxes(sample):
    return {d.id: d for d in (sample.ground_truth.detections if sample.ground_truth else [])}


def _two_boxes(i):
    return dets(
        ("cat", [0.1, 0.1, 0.2, 0.2], {"pose": "front", "occluded": False}),
        ("dog", [0.5, 0.5, 0.25, 0.25], {"pose": "side", "occluded": True}),
    )


def test_the_plugin_is_discovered_with_its_operators_panel_and_secrets(plugins_dir):
    registry = OperatorRegistry()
    ours = {op.uri: op for op in registry.list_operators() if op.uri.startswith(PLUGIN + "/")}
    assert set(ours) == {REQUEST, LOAD, STATUS, CLEANUP, DELETE, PANEL}
    assert {op.uri for op in foo.list_operators(type="panel")} >= {PANEL}
    assert all(set(op._plugin_secrets) == set(SECRETS) for op in ours.values())
    assert not [e for e in registry.list_errors() if "fo-annotation-backends" in e or "fo_annotation_backends" in e]
    assert ours[REQUEST].config.allow_delegated_execution and ours[LOAD].config.allow_delegated_execution
    plugin = next(p for p in fo.plugins.list_plugins() if p.name == PLUGIN)
    assert os.path.realpath(plugin.directory) == os.path.realpath(ROOT)


def test_request_form_offers_our_backends_targets_and_inferred_types(kili_dataset, kili_backend, tmp_path):
    dataset = kili_dataset
    add_images(dataset, str(tmp_path), 3, ground_truth=_two_boxes)
    with registered_backend("cvat_like", {"config_cls": "fiftyone.utils.cvat.CVATBackendConfig"}):
        props = form(REQUEST, dataset, label_field="ground_truth")["type"]["properties"]
    assert props["backend"]["type"]["values"] == [kili_backend]  # only ours
    assert props["view_target"]["type"]["values"] == ["DATASET"]  # no view, nothing selected
    assert props["label_type"]["type"]["values"] == ["detections", "instances"]
    assert props["label_type"]["default"] == "detections"
    assert not props["classes"]["required"]  # an existing field
    assert {"label_selection", "annotator", "project_name", "attributes", "launch_editor"} <= set(props)

    s0 = dataset.first().id
    props = form(REQUEST, view=dataset.limit(2), selected=[s0], label_field="weather", anno_key="has space")["type"][
        "properties"
    ]
    assert props["view_target"]["type"]["values"] == ["DATASET", "CURRENT_VIEW", "SELECTED_SAMPLES"]
    assert props["label_type"]["required"] and "segmentation" in props["label_type"]["type"]["values"]
    assert props["anno_key"]["invalid"]


def test_request_preview_load_status_cleanup_delete_with_kili(kili_dataset, kili_backend, kili_annotator, tmp_path):
    dataset = kili_dataset
    add_images(dataset, str(tmp_path), 4, ground_truth=_two_boxes)
    samples = list(dataset)
    before = {s.id: _boxes(s) for s in samples}
    view = dataset.limit(3)

    result = run(
        REQUEST,
        view=view,
        view_target="CURRENT_VIEW",
        backend=kili_backend,
        anno_key="plugin_run",
        label_field="ground_truth",
        classes=["cat", "dog"],
        attributes=[
            {"name": "pose", "type": "select", "values": ["front", "side"], "default": "front"},
            {"name": "occluded", "type": "checkbox"},
        ],
        project_name="Plugin run",
        label_selection="latest",
    ).result
    assert (result["anno_key"], result["samples"], result["fields"]) == ("plugin_run", 3, ["ground_truth"])
    results = dataset.load_annotation_results("plugin_run")
    assert set(results.asset_ids) == {s.id for s in samples[:3]}
    assert result["project_url"] == results.project_url and result["project_url"] in result["message"]
    schema = results.config.label_schema["ground_truth"]
    assert (
        schema["attributes"]["pose"]["values"] == ["front", "side"]
        and schema["attributes"]["occluded"]["type"] == "checkbox"
    )

    # the run shows up in the forms and the panel
    props = form(LOAD, dataset)["type"]["properties"]
    assert props["anno_key"]["type"]["values"] == ["plugin_run"]
    requests, rendered = panel_event(dataset, "on_load")
    state = _state_patches(requests)
    (listed,) = state["runs"]
    assert (listed["anno_key"], listed["backend"], listed["service"], listed["fields"]) == (
        "plugin_run",
        "kili",
        "kili",
        ["ground_truth"],
    )
    assert listed["project_url"] == results.project_url and listed["created"]
    buttons = rendered["type"]["properties"]["actions_0"]["type"]["properties"]
    assert buttons["open_0"]["view"]["href"] == results.project_url
    assert buttons["load_0"]["view"]["operator"] == PANEL + "#load"
    assert buttons["load_0"]["view"]["params"] == {"anno_key": "plugin_run"}

    # an annotator edits sample 0 (class and box of the cat, dog deleted, a box
    # added), deletes everything on sample 1, leaves sample 2 as it is
    s0, s1 = samples[0], samples[1]
    cat_id, dog_id = [d.id for d in s0.ground_truth.detections]
    gt = job(results, "ground_truth")
    response = kili_annotator.prefilled(results.project_id, results.asset_ids[s0.id])
    cat = next(a for a in response[gt]["annotations"] if a["mid"] == cat_id)
    cat["categories"] = [{"name": key(results, "ground_truth", "dog"), "confidence": 100}]
    cat["boundingPoly"] = box_annotation("x", "X", 0.2, 0.3, 0.5, 0.4)["boundingPoly"]
    added = box_annotation("new-box", key(results, "ground_truth", "cat"), 0.6, 0.6, 0.9, 0.8)
    response[gt]["annotations"] = [cat, added]
    kili_annotator.submit(results.project_id, results.asset_ids[s0.id], response, author="alice@example.com")
    kili_annotator.submit(results.project_id, results.asset_ids[s1.id], {}, author="alice@example.com")

    assert preview_load(dataset, "plugin_run") == {"ground_truth": {"added": 1, "edited": 1, "deleted": 3}}
    # the load form shows the preview; nothing is merged yet
    props = form(LOAD, dataset, anno_key="plugin_run")["type"]["properties"]
    assert "1 label(s) will be added, 1 edited, 3 deleted" in props["preview_result"]["default"]
    assert {s.id: set(_boxes(s)) for s in dataset} == {i: set(b) for i, b in before.items()}

    # progress on demand in the panel
    requests, rendered = panel_event(dataset, "fetch_progress", state=state, anno_key="plugin_run")
    assert _state_patches(requests)["progress.plugin_run"].startswith("2/3 labeled")
    requests, _ = panel_event(dataset, "load", state=state, anno_key="plugin_run")
    (prompt,) = [r for r in requests if r["operator_uri"] == "prompt_user_for_operation"]
    assert prompt["params"]["operator_uri"] == LOAD and prompt["params"]["params"] == {"anno_key": "plugin_run"}

    loaded = run(LOAD, dataset, anno_key="plugin_run").result
    assert loaded["fields"] == ["ground_truth"]
    after = {s.id: _boxes(s) for s in dataset}
    assert dog_id not in after[s0.id] and after[s0.id][cat_id].label == "dog"
    assert after[s0.id][cat_id].bounding_box == pytest.approx([0.2, 0.3, 0.3, 0.1])
    assert len(after[s0.id]) == 2
    assert after[s1.id] == {}
    for untouched in (samples[2], samples[3]):
        assert set(after[untouched.id]) == set(before[untouched.id])
    # loading again changes nothing: the box the annotator added keeps the id of its first load
    assert preview_load(dataset, "plugin_run") == {"ground_truth": {"added": 0, "edited": 0, "deleted": 0}}

    status = run(STATUS, dataset, anno_key="plugin_run").result
    assert status["status"]["total"] == 3 and status["status"]["labeled"] == 2
    assert "- total: 3" in status["text"] and status["summary"].startswith("2/3 labeled")

    # cleanup needs the confirmation
    with pytest.raises(ExecutionError) as refused:
        run(CLEANUP, dataset, anno_key="plugin_run")
    assert "confirm" in str(refused.value)
    assert _project_count(kili_annotator, results.project_id) == 1
    run(CLEANUP, dataset, anno_key="plugin_run", confirm=True)
    assert _project_count(kili_annotator, results.project_id) == 0

    run(DELETE, dataset, anno_key="plugin_run")
    assert dataset.list_annotation_runs() == []
    assert len(dataset.select_fields("ground_truth").values("ground_truth.detections.id", unwind=True)) == 2 + 0 + 2 + 2


def _project_count(annotator, project_id):
    return annotator.graphql("query($w: ProjectWhere!) { data: countProjects(where: $w) }", {"w": {"id": project_id}})[
        "data"
    ]


def _value(results, field, name):
    return results.interface_mapping["classes"][field][name]


def _fastlabel_id(results, label_id):
    return next(a for a, part in results.annotation_ids.items() if part == label_id)


def test_selected_samples_to_fastlabel_with_the_key_from_the_secrets(
    fastlabel_dataset, fastlabel_emulator, fastlabel_annotator, monkeypatch, tmp_path
):
    dataset = fastlabel_dataset
    add_images(
        dataset,
        str(tmp_path),
        3,
        ground_truth=lambda i: dets(("cat", [0.1, 0.1, 0.2, 0.2]), ("dog", [0.5, 0.5, 0.25, 0.25])),
    )
    samples = list(dataset)
    selected = [samples[0].id, samples[2].id]
    monkeypatch.setenv("FIFTYONE_FASTLABEL_API_KEY", fastlabel_emulator.api_key)
    entry = {"config_cls": FASTLABEL_CONFIG_CLS, "url": fastlabel_emulator.url}  # no key: the plugin's secret gives it
    with registered_backend("fastlabel", entry):
        result = run(
            REQUEST,
            view=dataset.view(),
            selected=selected,
            view_target="SELECTED_SAMPLES",
            backend="fastlabel",
            anno_key="selected",
            label_field="ground_truth",
            label_type="detections",
            classes=["cat", "dog"],
            priority="high",
            tags=["batch-7"],
        ).result
        assert result["samples"] == 2
        results = dataset.load_annotation_results("selected")
        assert set(results.task_ids) == set(selected)
        task = fastlabel_annotator.task(results.task_ids[samples[0].id])
        assert task["priority"] == 30 and task["tags"] == ["selected", "batch-7"]

        cat_id = samples[0].ground_truth.detections[0].id
        by_id = {a["id"]: a for a in task["annotations"]}
        cat = by_id[_fastlabel_id(results, cat_id)]
        cat["points"] = [16, 18, 40, 24]
        added = {
            "type": "bbox",
            "value": _value(results, "ground_truth", "dog"),
            "points": [48, 36, 72, 48],
            "attributes": [],
        }
        fastlabel_annotator.submit(task["id"], list(by_id.values()) + [added])
        fastlabel_annotator.submit(results.task_ids[samples[2].id], [])

        assert preview_load(dataset, "selected") == {"ground_truth": {"added": 1, "edited": 1, "deleted": 2}}
        run(LOAD, dataset, anno_key="selected")
        counts = [len(s.ground_truth.detections) for s in dataset]
        assert counts == [3, 2, 0]
        assert dataset.first().ground_truth.detections[0].bounding_box == pytest.approx([0.2, 0.3, 0.3, 0.1])

        status = run(STATUS, dataset, anno_key="selected").result["status"]
        assert status["total"] == 2 and status["service"]["statuses"] == {"completed": 2}

        # a wrong key (from the secrets) comes back as one readable line, without the key
        wrong = "wrong-" + secrets.token_hex(12)
        monkeypatch.setenv("FIFTYONE_FASTLABEL_API_KEY", wrong)
        failed = run_quietly(STATUS, dataset, anno_key="selected")
        assert failed.error_message.startswith("Getting the status failed: ")
        assert wrong not in failed.error_message and wrong not in failed.error
        assert "fastlabel/client.py" not in failed.error  # no traceback of the service call

        monkeypatch.setenv("FIFTYONE_FASTLABEL_API_KEY", fastlabel_emulator.api_key)
        client = results.backend.connect_to_api()
        with pytest.raises(ExecutionError):
            run(DELETE, dataset, anno_key="selected", cleanup=True)  # cleanup needs the confirmation
        assert client.find_project(results.project_slug) is not None
        run(DELETE, dataset, anno_key="selected", cleanup=True, confirm=True)
        assert client.find_project(results.project_slug) is None
        assert dataset.list_annotation_runs() == []


def test_a_refused_key_is_a_readable_message_without_the_key(kili_dataset, kili_emulator, monkeypatch, tmp_path):
    dataset = kili_dataset
    add_images(dataset, str(tmp_path), 2, ground_truth=_two_boxes)
    wrong = "wrong-" + secrets.token_hex(12)
    monkeypatch.setenv("FIFTYONE_KILI_API_KEY", wrong)
    params = dict(backend="kili", anno_key="refused", label_field="ground_truth", classes=["cat", "dog"])
    with registered_backend("kili", {"config_cls": KILI_CONFIG_CLS, "url": kili_emulator.url}):
        failed = run_quietly(REQUEST, dataset, **params)
        assert failed.error_message.startswith("Requesting annotations failed: ")
        assert "key" in failed.error_message.lower()
        for text in (failed.error_message, failed.error):
            assert wrong not in text
        assert "kili/client.py" not in failed.error and "requests/" not in failed.error
        (notice,) = [r["params"] for r in failed.executor.to_json()["requests"] if r["operator_uri"] == "notify"]
        assert notice == {"message": failed.error_message, "variant": "error"}
        with pytest.raises(ExecutionError) as raised:
            run(REQUEST, dataset, **params)
        assert wrong not in str(raised.value) and "Requesting annotations failed" in str(raised.value)
    assert dataset.list_annotation_runs() == []  # the failed upload left no run

    # a dataset without runs: the form says so, and nothing runs
    with pytest.raises(ExecutionError) as raised:
        run(STATUS, dataset, anno_key="nope")
    assert "No annotation runs" in str(raised.value)


class _Ctx:
    def __init__(self, values):
        self.secrets = values


def test_secrets_fill_in_what_the_config_does_not_set(kili_emulator):
    key_value = "secret-" + secrets.token_hex(8)
    ctx = _Ctx({"FIFTYONE_KILI_API_KEY": key_value, "FIFTYONE_KILI_URL": "http://from-secrets/graphql"})
    with registered_backend("kili", {"config_cls": KILI_CONFIG_CLS}):
        assert helpers.credentials(ctx, "kili") == {"api_key": key_value, "url": "http://from-secrets/graphql"}
        assert redact("key=%s" % key_value) == "key=***"  # registered for redaction
    with registered_backend("kili", {"config_cls": KILI_CONFIG_CLS, "url": kili_emulator.url, "api_key": "x" * 8}):
        assert helpers.credentials(ctx, "kili") == {}
    with registered_backend("other", {"config_cls": "fiftyone.utils.cvat.CVATBackendConfig"}):
        assert helpers.credentials(ctx, "other") == {}


def test_delegated_request_and_load_run_in_a_worker_with_progress(kili_dataset, kili_backend, kili_annotator, tmp_path):
    from fiftyone.operators.delegated import DelegatedOperationService
    from fiftyone.operators.executor import ExecutionRunState

    dataset = kili_dataset
    add_images(dataset, str(tmp_path), 2, ground_truth=_two_boxes)
    service = DelegatedOperationService()
    params = dict(
        backend=kili_backend,
        anno_key="delegated",
        label_field="ground_truth",
        label_type="detections",
        classes=["cat", "dog"],
    )

    queued = foo.execute_operator(REQUEST, ctx={"dataset": dataset, "params": params, "request_delegation": True})
    assert queued.delegated and dataset.list_annotation_runs() == []  # only queued
    operation_id = queued.result["id"]
    try:
        done = service.execute_operation(service.get(operation_id))
        assert done.error is None and done.result["samples"] == 2
        doc = service.get(operation_id)
        assert doc.run_state == ExecutionRunState.COMPLETED
        assert doc.status.label == "Sent 2 sample(s) to kili" and doc.status.progress == 1.0
        assert dataset.list_annotation_runs() == ["delegated"]

        results = dataset.load_annotation_results("delegated")
        kili_annotator.submit(results.project_id, results.asset_ids[dataset.first().id], {}, author="alice@example.com")
        queued = foo.execute_operator(
            LOAD, ctx={"dataset": dataset, "params": {"anno_key": "delegated"}, "request_delegation": True}
        )
        load_id = queued.result["id"]
        done = service.execute_operation(service.get(load_id))
        assert done.error is None
        assert service.get(load_id).status.label == "Merged run 'delegated'"
        assert dataset.first().ground_truth.detections == []
    finally:
        for doc_id in (operation_id, locals().get("load_id")):
            if doc_id is not None:
                service.delete_operation(doc_id)


def test_preview_of_single_labels_and_scalars_follows_fiftyones_merge(kili_dataset, tmp_path):
    import copy

    import fiftyone.core.labels as fol
    import fiftyone.utils.annotations as foua

    dataset = kili_dataset
    add_images(
        dataset,
        str(tmp_path),
        4,
        weather=lambda i: fol.Classification(label="sunny") if i < 3 else None,
        quantity=lambda i: [1, 2, None, 4][i],
    )
    s = list(dataset)
    ids = [x.weather.id if x.weather else None for x in s]
    schema = {
        "weather": {"type": "classification", "classes": ["sunny", "rainy"]},
        "quantity": {"type": "scalar"},
    }
    id_map = {"weather": {x.id: i for x, i in zip(s, ids)}, "quantity": {x.id: True for x in s}}
    config = foua.AnnotationBackendConfig("preview", label_schema=schema)
    results = foua.AnnotationResults(dataset, config, "preview", id_map)
    annotations = {
        "weather": {
            "classifications": {
                s[0].id: {ids[0]: fol.Classification(id=ids[0], label="rainy")},  # edited
                s[1].id: {ids[1]: fol.Classification(id=ids[1], label="sunny")},  # unchanged
                # s[2]: missing -> its label is deleted
                s[3].id: {"6" * 24: fol.Classification(id="6" * 24, label="rainy")},  # added to an empty field
            }
        },
        "quantity": {"scalar": {s[0].id: 1, s[1].id: 5, s[2].id: 7, s[3].id: None}},  # same, edited, added, deleted
    }
    before = copy.deepcopy(results.id_map)
    assert helpers.compare_annotations(dataset, results, annotations) == {
        "weather": {"added": 1, "edited": 1, "deleted": 1},
        "quantity": {"added": 1, "edited": 1, "deleted": 1},
    }
    # nothing changed: the dataset, and the run's id map
    assert results.id_map == before
    assert [x.weather.label if x.weather else None for x in dataset] == ["sunny", "sunny", "sunny", None]
    assert dataset.values("quantity") == [1, 2, None, 4]
    schema["weather"]["allow_deletions"] = False
    schema["quantity"]["allow_additions"] = False
    assert helpers.compare_annotations(dataset, results, annotations) == {
        "weather": {"added": 1, "edited": 1, "deleted": 0},
        "quantity": {"added": 0, "edited": 1, "deleted": 1},
    }
