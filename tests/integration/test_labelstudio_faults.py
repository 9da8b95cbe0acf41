"""Runs with a personal access token through a fault-injecting proxy in front
of the real server: 429 with Retry-After, 503 with an HTML body, dropped
connections and lost answers, on the token refresh and everywhere else. Every
run finishes with the right labels and creates nothing twice."""

import time

import fiftyone as fo
import pytest
from ls_helpers import add_images, dets, task_of

from fo_annotation_backends.testing.fault_proxy import FaultProxy

pytestmark = pytest.mark.integration

CONFIG_CLS = "fo_annotation_backends.labelstudio.LabelStudioBackendConfig"
BOXES = {"gt": {"type": "detections", "classes": ["cat", "dog"]}}


def _boxes(i):
    return dets(("cat", [0.1 + 0.1 * i, 0.1, 0.2, 0.2]))


@pytest.fixture
def pat(ls_server):
    return ls_server.create_personal_access_token()


def _through(proxy, pat, monkeypatch):
    """Registers the backend at the proxy's URL, with the PAT."""
    entry = {"config_cls": CONFIG_CLS, "url": proxy.url, "api_key": pat}
    monkeypatch.setitem(fo.annotation_config.backends, "labelstudio", entry)
    return "labelstudio"


def test_token_refreshes_meeting_429_html_503_and_dropped_connections_are_retried(
    dataset, media_dir, ls_server, pat, annotator, monkeypatch
):
    add_images(dataset, media_dir, 2, gt=_boxes)
    with FaultProxy(ls_server.url, faults={"retry_after": 1}) as proxy:
        backend = _through(proxy, pat, monkeypatch)
        proxy.script("token_refresh", "rate_limit", "server_error", "drop")
        started = time.monotonic()
        results = dataset.annotate("k", backend=backend, label_schema=BOXES)
        assert time.monotonic() - started >= 1.0  # the 429's Retry-After was honoured
        stats = proxy.stats()
        assert stats["operations"]["token_refresh"] == 4
        assert {k: stats["faults"][k] for k in ("rate_limit", "server_error", "drop")} == {
            "rate_limit": 1,
            "server_error": 1,
            "drop": 1,
        }

        annotator.submit(task_of(results, dataset.first().id), [])
        with results:  # closes the client: the load gets a new one, which refreshes
            pass
        proxy.script("token_refresh", "lost_response", "server_error")
        dataset.load_annotations("k")
        assert proxy.stats()["operations"]["token_refresh"] == 7

    assert dataset.first().gt.detections == []
    assert len(dataset.last().gt.detections) == 1


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_runs_with_a_personal_access_token_finish_through_ten_percent_faults(
    dataset, media_dir, ls_server, ls_client, pat, annotator, monkeypatch, seed
):
    add_images(dataset, media_dir, 4, gt=_boxes)
    before = {s.id: [(d.id, d.label) for d in s.gt.detections] for s in dataset}
    faults = {"rate_limit": 0.03, "server_error": 0.03, "drop": 0.02, "lost_response": 0.02, "retry_after": 0}
    with FaultProxy(ls_server.url, faults=faults, seed=seed) as proxy:
        backend = _through(proxy, pat, monkeypatch)
        # besides the random faults, every run loses the answers of its
        # creates and meets a rate limit on the token refresh
        proxy.script("POST /api/projects", "lost_response")
        proxy.script("POST /api/projects/{id}/import", "lost_response")
        proxy.script("token_refresh", "rate_limit")
        results = dataset.annotate(
            "k", backend=backend, label_schema=BOXES, import_batch_size=2, upload_max_files=2, max_retries=8
        )
        project_id = results.project_id
        tasks = ls_client.export_tasks(project_id)
        assert sorted(t["data"]["fo_sample_id"] for t in tasks) == sorted(before)  # nothing twice
        assert len(ls_client.find_projects(ls_client.get_project(project_id)["title"])) == 1

        first, second = dataset.values("id")[:2]
        edited = annotator.prefilled_result(task_of(results, first))
        edited[0]["value"]["rectanglelabels"] = ["dog"]
        annotator.submit(task_of(results, first), edited)
        annotator.submit(task_of(results, second), [])
        dataset.load_annotations("k")  # the run keeps max_retries=8
        dataset.load_annotation_results("k").cleanup()
        stats = proxy.stats()
        assert stats["faults"]["lost_response"] >= 2 and stats["faults"]["rate_limit"] >= 1

    after = {s.id: [(d.id, d.label) for d in s.gt.detections] for s in dataset}
    assert after[first] == [(before[first][0][0], "dog")]
    assert after[second] == []
    assert {k: v for k, v in after.items() if k not in (first, second)} == {
        k: v for k, v in before.items() if k not in (first, second)
    }
    assert ls_client.get_project(project_id) is None
