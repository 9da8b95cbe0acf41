"""What a Kili run owns, and FiftyOne's annotation contract around it:
cleanups that delete only the run's own assets (and its project only when it
created it and nothing else is in it), failures that roll back or resume
with the same call (a killed process included), loads after a cleanup, bad
input refused before anything is created, the AnnotationAPI, the status."""

import json
import os
import signal
import subprocess
import sys
import time
import uuid

import fiftyone as fo
import fiftyone.utils.annotations as foua
import pytest
from kili_helpers import add_images, box_annotation, dets, job, key

from fo_annotation_backends.core.errors import (
    AnnotationBackendError,
    MediaError,
    ParameterError,
    ProjectDeletedError,
    ServiceError,
    UploadInterruptedError,
)
from fo_annotation_backends.core.runs import STATUS_KEYS
from fo_annotation_backends.kili import KiliBackendConfig, KiliClient
from fo_annotation_backends.kili.upload import project_description

pytestmark = pytest.mark.integration

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SCHEMA = {"ground_truth": {"type": "detections", "classes": ["cat", "dog"]}}


def _boxes(i):
    return dets(("cat", [0.1, 0.1, 0.2, 0.2]), ("dog", [0.02 * (i % 10), 0.5, 0.25, 0.25]))


def _state(dataset):
    """Every box of the dataset: ``{sample id: [(id, label, box)]}``."""
    return {
        s.id: sorted((d.id, d.label, tuple(round(v, 9) for v in d.bounding_box)) for d in s.ground_truth.detections)
        for s in dataset.select_fields("ground_truth")
    }


def _projects(emulator):
    return {p["id"]: p for p in emulator.list_projects()}


def _asset_ids(emulator, project_id):
    return [a["id"] for a in emulator.list_assets(project_id)]


def _predictions_per_asset(emulator, project_id):
    return [
        sum(1 for label in a["labels"] if label["labelType"] == "PREDICTION") for a in emulator.list_assets(project_id)
    ]


@pytest.fixture
def other_dataset(kili_backend):
    """A second dataset, its runs cleaned up while the emulator runs."""
    dataset = fo.Dataset("kili-other-%s" % uuid.uuid4().hex[:10])
    yield dataset
    for anno_key in dataset.list_annotation_runs():
        try:
            dataset.load_annotation_results(anno_key).cleanup()
        except Exception:
            pass
    dataset.delete()


# --------------------------------------------------------------------------
# ownership
# --------------------------------------------------------------------------


@pytest.mark.parametrize("first", ["A", "B"])
def test_datasets_sharing_a_project_and_a_key_clean_up_only_their_own(
    first, kili_dataset, other_dataset, kili_backend, kili_emulator, kili_annotator, tmp_path
):
    a, b = kili_dataset, other_dataset
    os.makedirs(tmp_path / "a")
    os.makedirs(tmp_path / "b")
    add_images(a, str(tmp_path / "a"), 2, ground_truth=_boxes)
    add_images(b, str(tmp_path / "b"), 2, ground_truth=_boxes)
    results_a = a.annotate("run", backend=kili_backend, label_schema=SCHEMA, project_name="Shared")
    project = results_a.project_id
    results_b = b.annotate("run", backend=kili_backend, label_schema=SCHEMA, project_id=project)
    assert (results_a.project_created, results_b.project_created) == (True, False)
    assert b.load_annotation_results("run").project_created is False  # as recorded
    ours_a, ours_b = set(results_a.asset_ids.values()), set(results_b.asset_ids.values())
    assert len(ours_a | ours_b) == 4 and set(_asset_ids(kili_emulator, project)) == ours_a | ours_b

    # a person labels one of A's assets: an edited box
    sample = a.first()
    asset = results_a.asset_ids[sample.id]
    cat = sample.ground_truth.detections[0]
    response = kili_annotator.prefilled(project, asset)
    gt = job(results_a, "ground_truth")
    response[gt]["annotations"] = [box_annotation(cat.id, key(results_a, "ground_truth", "cat"), 0.3, 0.3, 0.6, 0.6)]
    kili_annotator.submit(project, asset, response)

    if first == "B":
        b.load_annotation_results("run").cleanup()
        assert set(_asset_ids(kili_emulator, project)) == ours_a  # A's items and labels survive
        assert any(label["labelType"] == "DEFAULT" for label in kili_emulator.list_assets(project)[0]["labels"])
        a.load_annotations("run")
        assert [tuple(round(v, 6) for v in d.bounding_box) for d in a.first().ground_truth.detections] == [
            (0.3, 0.3, 0.3, 0.3)
        ]
        a.load_annotation_results("run").cleanup()
        assert project not in _projects(kili_emulator)  # A created it and nothing else is in it
    else:
        a.load_annotation_results("run").cleanup()
        assert set(_asset_ids(kili_emulator, project)) == ours_b  # B's assets keep the project
        b.load_annotation_results("run").cleanup()
        assert project in _projects(kili_emulator)  # B did not create it
        assert _asset_ids(kili_emulator, project) == []


# --------------------------------------------------------------------------
# failures: roll back, or resume with the same call
# --------------------------------------------------------------------------


def test_a_failure_before_any_asset_rolls_back_a_new_project_and_frees_the_key(
    kili_dataset, kili_backend, kili_emulator, tmp_path
):
    add_images(kili_dataset, str(tmp_path), 2, ground_truth=_boxes)
    kili_emulator.set_faults(fail_after=0, fault_operations=["createUploadBucketSignedUrls"])
    with pytest.raises(ServiceError):
        kili_dataset.annotate("rollback", backend=kili_backend, label_schema=SCHEMA, max_retries=0)
    assert _projects(kili_emulator) == {}
    assert "rollback" not in kili_dataset.list_annotation_runs()

    kili_emulator.reset_faults()
    results = kili_dataset.annotate("rollback", backend=kili_backend, label_schema=SCHEMA)
    assert len(_asset_ids(kili_emulator, results.project_id)) == 2


def test_a_failure_before_any_asset_puts_a_reused_projects_interface_back(
    kili_dataset, kili_backend, kili_emulator, kili_annotator, tmp_path
):
    add_images(kili_dataset, str(tmp_path), 2, ground_truth=_boxes)
    theirs = {
        "jobs": {
            "THEIRS": {
                "mlTask": "CLASSIFICATION",
                "required": 0,
                "isChild": False,
                "content": {"input": "radio", "categories": {"A": {"name": "A", "children": []}}},
            }
        }
    }
    project = kili_annotator.graphql(
        "mutation($data: CreateProjectData!) { data: createProject(data: $data) { id } }",
        {"data": {"title": "Theirs", "description": "", "inputType": "IMAGE", "jsonInterface": json.dumps(theirs)}},
    )["data"]["id"]
    kili_annotator.graphql(
        "mutation($data: AppendManyAssetsData!, $where: ProjectWhere!) { data: appendManyAssets(data: $data, where: $where) { id } }",
        {
            "data": {"contentArray": ["http://127.0.0.1:9/x.png"], "externalIDArray": ["theirs-1"]},
            "where": {"id": project},
        },
    )
    kili_emulator.set_faults(fail_after=0, fault_operations=["createUploadBucketSignedUrls"])
    with pytest.raises(ServiceError):
        kili_dataset.annotate("reused", backend=kili_backend, label_schema=SCHEMA, project_id=project, max_retries=0)
    kili_emulator.reset_faults()

    after = _projects(kili_emulator)[project]
    assert after["jsonInterface"] == theirs
    assert len(_asset_ids(kili_emulator, project)) == 1
    assert "reused" not in kili_dataset.list_annotation_runs()


def test_an_unfinished_run_in_a_reused_project_is_discarded_by_deleting_only_its_assets(
    kili_dataset, kili_backend, kili_emulator, kili_annotator, tmp_path
):
    add_images(kili_dataset, str(tmp_path), 3, ground_truth=_boxes)
    project = kili_annotator.graphql(
        "mutation($data: CreateProjectData!) { data: createProject(data: $data) { id } }",
        {
            "data": {
                "title": "Theirs",
                "description": "",
                "inputType": "IMAGE",
                "jsonInterface": json.dumps({"jobs": {}}),
            }
        },
    )["data"]["id"]
    kili_annotator.graphql(
        "mutation($data: AppendManyAssetsData!, $where: ProjectWhere!) { data: appendManyAssets(data: $data, where: $where) { id } }",
        {
            "data": {"contentArray": ["http://127.0.0.1:9/x.png"], "externalIDArray": ["theirs-1"]},
            "where": {"id": project},
        },
    )
    (theirs,) = _asset_ids(kili_emulator, project)
    # the assets go up, then their predictions are refused (429, no retries)
    kili_emulator.set_faults(rate_limit=1.0, retry_after=0, fault_operations=["appendManyLabels"])
    with pytest.raises(UploadInterruptedError, match="run the same annotate"):
        kili_dataset.annotate("discard", backend=kili_backend, label_schema=SCHEMA, project_id=project, max_retries=0)
    kili_emulator.reset_faults()
    assert len(_asset_ids(kili_emulator, project)) == 4

    unfinished = kili_dataset.load_annotation_results("discard")
    assert (unfinished.upload_complete, unfinished.project_created) == (False, False)
    with pytest.raises(AnnotationBackendError, match="did not finish"):
        unfinished.backend.download_annotations(unfinished)
    assert unfinished.get_status()["service"]["upload_complete"] is False
    unfinished.cleanup()
    assert _asset_ids(kili_emulator, project) == [theirs] and project in _projects(kili_emulator)
    kili_dataset.delete_annotation_run("discard")
    kili_dataset.annotate("discard", backend=kili_backend, label_schema=SCHEMA, project_id=project)
    assert len(_asset_ids(kili_emulator, project)) == 4


def test_a_killed_upload_is_resumed_by_the_same_call(kili_dataset, kili_backend, kili_emulator, tmp_path):
    add_images(kili_dataset, str(tmp_path), 102, ground_truth=_boxes)
    before = _state(kili_dataset)
    # the predictions of the first 100 assets are held long enough to kill the process
    kili_emulator.set_faults(slow=1.0, slow_seconds=3.0, fault_operations=["appendManyLabels"])
    env = dict(os.environ, PYTHONPATH=ROOT, KILI_TEST_URL=kili_emulator.url, KILI_TEST_API_KEY=kili_emulator.api_key)
    process = subprocess.Popen(
        [
            sys.executable,
            os.path.join(HERE, "kili_killed_upload_script.py"),
            kili_dataset.name,
            "killed",
            json.dumps(SCHEMA),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        project = _wait_for_assets(kili_emulator, process, 100, timeout=120)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    time.sleep(3.5)  # the held request completes on the server
    kili_emulator.reset_faults()
    assert len(_asset_ids(kili_emulator, project)) == 100

    kili_dataset.reload()
    with pytest.raises(AnnotationBackendError, match="did not finish"):
        kili_dataset.load_annotations("killed")
    kili_emulator.reset_stats()
    results = kili_dataset.annotate("killed", backend=kili_backend, label_schema=SCHEMA)

    assert list(_projects(kili_emulator)) == [project] and results.project_id == project
    assert results.project_created
    assert len(set(_asset_ids(kili_emulator, project))) == 102
    assert _predictions_per_asset(kili_emulator, project) == [1] * 102
    assert kili_emulator.stats()["operations"].get("createProject") is None
    kili_dataset.load_annotations("killed")
    assert _state(kili_dataset) == before


@pytest.mark.parametrize("explicit", [False, True], ids=["same-call", "project_id"])
def test_an_attempt_killed_before_it_recorded_its_project_is_found_by_its_mark(
    explicit, kili_dataset, kili_backend, kili_emulator, kili_annotator, tmp_path
):
    add_images(kili_dataset, str(tmp_path), 2, ground_truth=_boxes)
    # what the killed attempt left: the run registered (with its run id) and
    # a project carrying that id, nothing recorded with the run
    config = KiliBackendConfig(kili_backend, SCHEMA, url=kili_emulator.url, api_key=kili_emulator.api_key)
    config.build().register_run(kili_dataset, "early", overwrite=False)
    description = project_description("early", kili_dataset.name, config.run_id)
    project = kili_annotator.graphql(
        "mutation($data: CreateProjectData!) { data: createProject(data: $data) { id } }",
        {
            "data": {
                "title": "FiftyOne %s" % kili_dataset.name,
                "description": description,
                "inputType": "IMAGE",
                "jsonInterface": json.dumps({"jobs": {}}),
            }
        },
    )["data"]["id"]

    options = {"project_id": project} if explicit else {}
    results = kili_dataset.annotate("early", backend=kili_backend, label_schema=SCHEMA, **options)

    assert list(_projects(kili_emulator)) == [project] and results.project_id == project
    assert results.project_created  # marked as this run's: its cleanup deletes it
    assert len(_asset_ids(kili_emulator, project)) == 2
    results.cleanup()
    assert _projects(kili_emulator) == {}


def _wait_for_assets(emulator, process, count, timeout):
    """The project of the subprocess's run, once it has ``count`` assets."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise AssertionError("annotate() ended before it was killed: %s" % process.stderr.read().decode()[-2000:])
        for project in emulator.list_projects():
            if len(emulator.list_assets(project["id"])) >= count:
                return project["id"]
        time.sleep(0.05)
    raise AssertionError("no project with %d assets after %d s" % (count, timeout))


# --------------------------------------------------------------------------
# loading after a cleanup
# --------------------------------------------------------------------------


def test_a_load_after_cleanup_says_the_project_is_gone_and_changes_nothing(
    kili_dataset, kili_backend, kili_emulator, kili_annotator, tmp_path, caplog
):
    add_images(kili_dataset, str(tmp_path), 2, ground_truth=_boxes)
    results = kili_dataset.annotate("gone", backend=kili_backend, label_schema=SCHEMA)
    sample = kili_dataset.first()
    asset = results.asset_ids[sample.id]
    response = kili_annotator.prefilled(results.project_id, asset)
    response[job(results, "ground_truth")]["annotations"].pop()
    kili_annotator.submit(results.project_id, asset, response)

    kili_dataset.load_annotations("gone", cleanup=True)
    assert results.project_id not in _projects(kili_emulator)
    loaded = _state(kili_dataset)
    assert len(loaded[sample.id]) == 1

    with pytest.raises(ProjectDeletedError, match="no longer exists"):
        kili_dataset.load_annotations("gone")
    assert _state(kili_dataset) == loaded
    stored = kili_dataset.load_annotation_results("gone")
    with pytest.raises(ProjectDeletedError):
        stored.get_status()
    with caplog.at_level("INFO"):
        stored.cleanup()
        stored.cleanup()
    assert "already deleted" in caplog.text
    assert _state(kili_dataset) == loaded


# --------------------------------------------------------------------------
# bad input: refused before anything is created
# --------------------------------------------------------------------------


def test_bad_input_is_refused_before_anything_is_created(kili_dataset, kili_backend, kili_emulator, tmp_path):
    add_images(kili_dataset, str(tmp_path), 2, ground_truth=_boxes)

    def refused(error, match, view=None, anno_key="bad", **kwargs):
        with pytest.raises(error, match=match) as info:
            (view or kili_dataset).annotate(anno_key, backend=kili_backend, label_schema=SCHEMA, **kwargs)
        assert _projects(kili_emulator) == {}
        assert anno_key not in kili_dataset.list_annotation_runs()
        return str(info.value)

    assert "did you mean 'label_selection'" in refused(ParameterError, "label_selecton", label_selecton="latest")
    refused(ParameterError, "upload_workers", upload_workers=0)
    refused(ParameterError, "download_page_size", download_page_size=-5)
    refused(ParameterError, "consensus_mark_gte", consensus_mark_gte=2)
    refused(ParameterError, "more than once", view=kili_dataset.limit(1).concat(kili_dataset.limit(1)))
    root = kili_emulator.url.split("/api/label/")[0]
    text = refused(ServiceError, "GraphQL endpoint", url=root + "/")
    assert root + "/api/label/v2/graphql" in text
    assert kili_emulator.stats()["operations"].get("viewer") is None  # only the wrong URL was asked

    corrupt = str(tmp_path / "corrupt.png")
    with open(corrupt, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n not an image")
    kili_dataset.add_sample(fo.Sample(filepath=corrupt))
    assert corrupt in refused(MediaError, "not a decodable image")
    kili_dataset.delete_samples(kili_dataset.match({"filepath": corrupt}))

    kili_dataset.annotate("taken", backend=kili_backend, label_schema=SCHEMA)
    projects = _projects(kili_emulator)
    with pytest.raises(ParameterError) as info:
        kili_dataset.annotate("taken", backend=kili_backend, label_schema=SCHEMA)
    assert "delete_annotation_run('taken')" in str(info.value) and "cleanup()" in str(info.value)
    assert _projects(kili_emulator).keys() == projects.keys()


# --------------------------------------------------------------------------
# the AnnotationAPI and the status
# --------------------------------------------------------------------------


def test_the_client_is_fiftyones_annotation_api_and_the_status_has_the_common_shape(
    kili_dataset, kili_backend, kili_emulator, tmp_path
):
    add_images(kili_dataset, str(tmp_path), 2, ground_truth=_boxes)
    results = kili_dataset.annotate("api", backend=kili_backend, label_schema=SCHEMA)

    api = results.connect_to_api()
    assert isinstance(api, KiliClient) and isinstance(api, foua.AnnotationAPI)
    with results:
        assert results.connect_to_api() is api
        assert api.viewer()["email"]
    assert results.connect_to_api() is not api  # a new client after the block
    status = results.get_status()
    assert tuple(status) == STATUS_KEYS
    assert (status["total"], status["labeled"], status["unlabeled"], status["missing"]) == (2, 0, 2, 0)
    assert status["service"] == {"statuses": {"TODO": 2}, "upload_complete": True}

    standalone = foua.connect_to_api(backend=kili_backend)
    try:
        assert isinstance(standalone, KiliClient) and standalone.viewer()["email"]
    finally:
        standalone.close()
