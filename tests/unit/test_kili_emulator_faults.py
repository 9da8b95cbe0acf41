"""The Kili emulator over real sockets, with plain ``requests``: faults,
the call budget, control endpoints, its Python helpers, concurrency and the
command line."""

import json
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from kili_emulator_helpers import (  # noqa: F401  (emulator, project are fixtures)
    APPEND_ASSETS,
    CREATE_PROJECT,
    INTERFACE,
    ROOT,
    SIGNED_URLS,
    WEATHER,
    append_assets,
    create_project,
    emulator,
    gql,
    headers,
    hosted,
    list_assets,
    post,
    project,
    reason,
)

from fo_annotation_backends.testing.emulator_base import validate_knobs
from fo_annotation_backends.testing.kili import KiliEmulator

# -- faults ----------------------------------------------------------------------------


def count_projects(emulator):
    return gql(emulator, "{ data: countProjects(where: {}) }")["data"]


def test_fault_rate_limit_is_not_processed(emulator):
    emulator.set_faults(rate_limit=1.0, retry_after=7)
    response = post(emulator, CREATE_PROJECT, {"data": {"title": "T", "inputType": "IMAGE", "jsonInterface": "{}"}})
    assert response.status_code == 429 and response.headers["Retry-After"] == "7"
    assert "errors" not in response.json() and "data" not in response.json()
    emulator.reset_faults()
    assert count_projects(emulator) == 0
    assert emulator.stats()["faults"]["rate_limit"] == 1


def test_fault_server_error_is_not_processed(emulator):
    emulator.set_faults(server_error=1.0)
    response = post(emulator, CREATE_PROJECT, {"data": {"title": "T", "inputType": "IMAGE", "jsonInterface": "{}"}})
    assert response.status_code == 503
    emulator.reset_faults()
    assert count_projects(emulator) == 0


def test_fault_drop_closes_without_processing(emulator):
    emulator.set_faults(drop=1.0)
    with pytest.raises(requests.ConnectionError):
        post(emulator, CREATE_PROJECT, {"data": {"title": "T", "inputType": "IMAGE", "jsonInterface": "{}"}})
    emulator.reset_faults()
    assert count_projects(emulator) == 0
    assert emulator.stats()["faults"]["drop"] == 1


def test_fault_lost_response_applies_mutations_only(emulator):
    emulator.set_faults(lost_response=1.0)
    with pytest.raises(requests.ConnectionError):
        post(emulator, CREATE_PROJECT, {"data": {"title": "T", "inputType": "IMAGE", "jsonInterface": "{}"}})
    assert count_projects(emulator) == 1  # a query: answered
    emulator.reset_faults()
    assert emulator.stats()["faults"]["lost_response"] == 1


def test_fault_slow(emulator):
    emulator.set_faults(slow=1.0, slow_seconds=0.3)
    start = time.monotonic()
    assert count_projects(emulator) == 0
    assert time.monotonic() - start >= 0.3
    assert emulator.stats()["faults"]["slow"] == 1


def test_fault_operations_restrict_faults(emulator, project):
    emulator.set_faults(server_error=1.0, fault_operations=["appendManyAssets"])
    assert count_projects(emulator) == 1
    response = post(emulator, APPEND_ASSETS, {"data": {"contentArray": hosted(1)}, "where": {"id": project}})
    assert response.status_code == 503
    assert emulator.faults["fault_operations"] == ["appendManyAssets"]
    emulator.reset_faults()
    assert list_assets(emulator, {"project": {"id": project}}) == []


def test_faults_apply_to_storage(emulator, project):
    url = gql(emulator, SIGNED_URLS, {"filePaths": ["projects/%s/assets/x/content" % project]})["urls"][0]
    emulator.set_faults(server_error=1.0, fault_operations=["storage_put"])
    assert requests.put(url.split("&id=")[0], data=b"x", timeout=10).status_code == 503
    assert emulator.stored_content("projects/%s/assets/x/content" % project) is None
    emulator.set_faults(fault_operations=["storage_get"])
    assert requests.put(url.split("&id=")[0], data=b"x", timeout=10).status_code == 200
    assert requests.get(url, timeout=10).status_code == 503


def test_fail_after_starts_an_outage(emulator):
    emulator.set_faults(fail_after=2)
    assert count_projects(emulator) == 0
    assert count_projects(emulator) == 0
    for _ in range(3):
        assert post(emulator, "{ data: countProjects(where: {}) }").status_code == 503
    emulator.set_faults(fail_after=None)
    assert count_projects(emulator) == 0
    assert emulator.stats()["faults"]["outage"] == 3


def test_faults_are_seeded():
    def statuses(seed):
        with KiliEmulator(api_key="k", seed=seed, faults={"rate_limit": 0.5}) as emulator:
            return [post(emulator, "{ data: viewer { id } }").status_code for _ in range(20)]

    first = statuses(7)
    assert first == statuses(7)
    assert set(first) == {200, 429}


def test_fault_knobs_are_checked(emulator):
    with pytest.raises(ValueError):
        emulator.set_faults(rate_limit=1.5)
    with pytest.raises(ValueError):
        emulator.set_faults(explode=0.1)
    with pytest.raises(ValueError):
        emulator.set_faults(rate_limit=0.6, server_error=0.6)
    assert validate_knobs({"fault_operations": "a, b"}) == {"fault_operations": frozenset({"a", "b"})}


# -- call budget -------------------------------------------------------------------------


def test_call_budget_is_enforced():
    with KiliEmulator(api_key="k", max_calls=3, window_seconds=60) as emulator:
        for _ in range(3):
            assert count_projects(emulator) == 0
        over = post(emulator, "{ data: countProjects(where: {}) }")
        assert over.status_code == 429 and 1 <= int(over.headers["Retry-After"]) <= 60
        assert "errors" not in over.json()
        # storage and version calls are not in the budget
        assert requests.get(emulator.base_url + "/api/label/v2/version", timeout=10).status_code == 200
        stats = emulator.stats()
        assert stats["over_limit"] == 1 and stats["peak_calls_in_window"] == 3 and stats["max_calls"] == 3


def test_call_budget_can_only_count():
    with KiliEmulator(api_key="k", max_calls=2, enforce_limit=False) as emulator:
        for _ in range(4):
            assert count_projects(emulator) == 0
        stats = emulator.stats()
        assert stats["over_limit"] == 2 and stats["peak_calls_in_window"] == 4


def test_call_budget_window_slides():
    with KiliEmulator(api_key="k", max_calls=2, window_seconds=0.5) as emulator:
        assert count_projects(emulator) == 0
        assert count_projects(emulator) == 0
        assert post(emulator, "{ data: countProjects(where: {}) }").status_code == 429
        time.sleep(0.6)
        assert count_projects(emulator) == 0


# -- control endpoints ---------------------------------------------------------------------


def test_control_endpoints(emulator):
    control = emulator.base_url + "/_emulator/"
    assert requests.get(control + "stats", timeout=10).status_code == 401
    count_projects(emulator)
    stats = requests.get(control + "stats", headers=headers(emulator), timeout=10).json()
    assert stats["requests"] == 1 and stats["operations"] == {"countProjects": 1} and stats["statuses"] == {"200": 1}

    knobs = requests.post(
        control + "faults",
        json={"server_error": 1.0, "fault_operations": ["createProject"]},
        headers=headers(emulator),
        timeout=10,
    )
    assert knobs.status_code == 200 and knobs.json()["server_error"] == 1.0
    assert emulator.faults["server_error"] == 1.0
    assert requests.get(control + "faults", headers=headers(emulator), timeout=10).json()["fault_operations"] == [
        "createProject"
    ]
    bad = requests.post(control + "faults", json={"server_error": 3}, headers=headers(emulator), timeout=10)
    assert bad.status_code == 400
    # control requests are never faulted nor counted
    requests.post(
        control + "faults", json={"server_error": 0, "fault_operations": None}, headers=headers(emulator), timeout=10
    )
    assert emulator.stats()["requests"] == 1
    reset = requests.post(control + "reset_stats", headers=headers(emulator), timeout=10).json()
    assert reset["requests"] == 0 and reset["operations"] == {}

    user = requests.post(
        control + "users",
        json={"email": "bob@example.com", "api_key": "bob-key"},
        headers=headers(emulator),
        timeout=10,
    )
    assert user.status_code == 200 and user.json()["apiKey"] == "bob-key"
    assert gql(emulator, "{ data: viewer { email } }", key="bob-key")["data"]["email"] == "bob@example.com"
    create_project(emulator)
    assert requests.post(control + "clear", headers=headers(emulator), timeout=10).status_code == 200
    assert count_projects(emulator) == 0
    assert requests.get(control + "nothing", headers=headers(emulator), timeout=10).status_code == 404


# -- Python helpers, concurrency, plugin, command line --------------------------------------


def test_python_helpers(emulator, project):
    asset_id = append_assets(emulator, project, hosted(1), jsonMetadataArray=[json.dumps({"x": 1})])[0]["id"]
    requests_before = emulator.stats()["requests"]
    ann = emulator.create_user("ann@example.com", api_key=True)
    label = emulator.add_label(asset_id, WEATHER, author_id=ann["id"])
    assert label["jsonResponse"] == WEATHER and label["author"]["email"] == "ann@example.com"
    assets = emulator.list_assets(project)
    assert assets[0]["jsonMetadata"] == {"x": 1} and assets[0]["status"] == "LABELED"
    assert assets[0]["labels"][0]["id"] == label["id"]
    assert emulator.list_projects()[0]["jsonInterface"] == INTERFACE
    body = emulator.execute("{ data: viewer { email } }", api_key=ann["apiKey"])
    assert body == {"data": {"data": {"email": "ann@example.com"}}}
    assert emulator.stats()["requests"] == requests_before  # the helpers are not requests


def test_concurrent_appends_are_consistent(emulator, project):
    def append(batch):
        return append_assets(emulator, project, hosted(10), externalIDArray=["b%d-%d" % (batch, i) for i in range(10)])

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(append, range(16)))
    assert sum(len(r) for r in results) == 160
    total = gql(
        emulator, "query($w: AssetWhere!) { data: countAssets(where: $w) }", {"w": {"project": {"id": project}}}
    )
    assert total["data"] == 160


def test_pytest_plugin_fixture(kili_emulator):
    assert kili_emulator.api_key.startswith("test-")
    assert gql(kili_emulator, "{ data: viewer { email } }")["data"]["email"] == "emulator-admin@kili.local"


def test_cli_prints_the_url_and_stops_on_sigterm():
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fo_annotation_backends.testing.kili",
            "--port",
            "0",
            "--api-key",
            "cli-key",
            "--max-page-size",
            "7",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/api/label/v2/graphql")
        response = requests.post(
            url,
            json={"query": "{ data: viewer { email } }"},
            headers={"Authorization": "X-API-Key: cli-key"},
            timeout=10,
        )
        assert response.json()["data"]["data"]["email"] == "emulator-admin@kili.local"
        too_big = requests.post(
            url,
            json={"query": "{ data: projects(where: {}, first: 8, skip: 0) { id } }"},
            headers={"Authorization": "X-API-Key: cli-key"},
            timeout=10,
        )
        assert reason(too_big.json()["errors"][0]) == "pageSizeTooLarge"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()
