"""Picsellia runs through faults: 429 answers (their Retry-After waited
for), 5xx answers, dropped connections and lost answers on creates, resolved
without anything created twice. Against the emulator's fault knobs."""

import time

import pytest
from dataset_helpers import add_images, dets

pytestmark = pytest.mark.integration

SCHEMA = {"ground_truth": {"type": "detections", "classes": ["cat", "dog"]}}
CREATES = ["POST organization/{id}/datasets", "POST dataset/{id}/versions", "POST datalake/{id}/datas"]


def _boxes(i):
    return dets(("cat", [0.1, 0.1, 0.2, 0.2]), ("dog", [0.05 * (i % 10), 0.5, 0.25, 0.25]))


def _state(dataset):
    return {
        s.id: sorted((d.id, d.label, tuple(round(v, 9) for v in d.bounding_box)) for d in s.ground_truth.detections)
        for s in dataset.select_fields("ground_truth")
    }


def _check_nothing_twice(emulator, results, count):
    state = emulator.state
    with state.lock:
        assert len(state.datasets) == 1 and len(state.versions) == 1
        names = [d["filename"] for d in state.datas.values()]
        assert len(names) == count and len(set(names)) == count
        assert len(state.assets) == count
        per_asset = sorted(sum(1 for a in state.annotations.values() if a["asset_id"] == x) for x in state.assets)
        assert per_asset == [1] * count
        assert sum(len(a["_shapes"]["rectangles"]) for a in state.annotations.values()) == 2 * count
    assert len(results.asset_ids) == count and set(results.asset_ids.values()) == set(state.assets)


FAULTS = {
    "rate_limit": {"rate_limit": 0.25, "retry_after": 0},
    "server_error": {"server_error": 0.2},
    "drop": {"drop": 0.15},
    "lost_response": {"lost_response": 0.3},
}


@pytest.mark.parametrize("kind", sorted(FAULTS))
def test_a_run_completes_through_faults(
    kind, picsellia_dataset, picsellia_backend, picsellia_emulator, picsellia_annotator, tmp_path
):
    add_images(picsellia_dataset, str(tmp_path), 6, ground_truth=_boxes)
    before = _state(picsellia_dataset)
    picsellia_emulator.set_faults(**FAULTS[kind])
    results = picsellia_dataset.annotate("faults", backend=picsellia_backend, label_schema=SCHEMA, max_retries=8)
    injected = picsellia_emulator.stats()["faults"]
    picsellia_emulator.reset_faults()
    assert injected[kind] > 0
    _check_nothing_twice(picsellia_emulator, results, 6)

    # a person deletes one box; the load runs through the faults too
    sample = picsellia_dataset.first()
    asset = results.asset_ids[sample.id]
    kept = picsellia_annotator.open(results.version_id, asset)["rectangles"][:1]
    picsellia_annotator.annotate(results.version_id, asset, {"rectangles": kept})
    picsellia_emulator.set_faults(**FAULTS[kind])
    picsellia_dataset.load_annotations("faults")
    picsellia_emulator.reset_faults()
    expected = dict(before)
    expected[sample.id] = [entry for entry in before[sample.id] if entry[0] == kept[0]["text"]]
    assert _state(picsellia_dataset) == expected


def test_every_create_whose_answer_is_lost_is_found_instead_of_sent_again(
    picsellia_dataset, picsellia_backend, picsellia_emulator, tmp_path
):
    add_images(picsellia_dataset, str(tmp_path), 5, ground_truth=_boxes)
    picsellia_emulator.set_faults(lost_response=1.0, fault_operations=CREATES)
    results = picsellia_dataset.annotate("lost", backend=picsellia_backend, label_schema=SCHEMA)
    stats = picsellia_emulator.stats()
    picsellia_emulator.reset_faults()
    assert stats["faults"]["lost_response"] == 1 + 1 + 5
    ops = stats["operations"]
    # each sent once: the lost answer resolved by a lookup (by name, by version name, by filename)
    assert (ops[CREATES[0]], ops[CREATES[1]], ops[CREATES[2]]) == (1, 1, 5)
    _check_nothing_twice(picsellia_emulator, results, 5)
    assert results.dataset_created and results.version_created


def test_a_429_is_retried_after_its_retry_after(picsellia_dataset, picsellia_backend, picsellia_emulator, tmp_path):
    add_images(picsellia_dataset, str(tmp_path), 3, ground_truth=_boxes)
    # the first bulk import answered 429: the backend waits Retry-After, then sends it again (HTTP's
    # Retry-After is whole seconds: a fraction is not honoured, and the backoff's jitter may be shorter)
    picsellia_emulator.set_faults(
        rate_limit=1.0, retry_after=1.0, fault_operations=["POST V/bulk-annotations"], max_faults=1
    )
    started = time.monotonic()
    results = picsellia_dataset.annotate("limited", backend=picsellia_backend, label_schema=SCHEMA, max_retries=3)
    ended = time.monotonic()
    stats = picsellia_emulator.stats()
    assert stats["statuses"]["429"] == 1 and stats["operations"]["POST V/bulk-annotations"] == 2
    assert ended - started >= 1.0  # the Retry-After was waited for
    _check_nothing_twice(picsellia_emulator, results, 3)


def test_a_call_budget_answered_with_429_is_waited_for(
    picsellia_dataset, picsellia_backend, picsellia_emulator, tmp_path
):
    add_images(picsellia_dataset, str(tmp_path), 6, ground_truth=_boxes)
    picsellia_emulator.set_faults(max_calls=8, window_seconds=1.0, enforce_limit=True, retry_after=0.5)
    results = picsellia_dataset.annotate("budget", backend=picsellia_backend, label_schema=SCHEMA)
    stats = picsellia_emulator.stats()
    picsellia_emulator.set_faults(max_calls=None)
    assert stats["statuses"].get("429", 0) > 0
    _check_nothing_twice(picsellia_emulator, results, 6)
