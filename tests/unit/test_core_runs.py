"""The shared run policy: parameter checks, the failure policy's decisions,
the cleanup policy and the status shape (no database: the run record side
is exercised against the services in tests/integration and tests/conformance)."""

import pytest

from fo_annotation_backends.core.errors import ParameterError, UploadInterruptedError
from fo_annotation_backends.core.params import (
    check_choice,
    check_positive,
    reject_unknown_parameters,
    valid_parameters,
)
from fo_annotation_backends.core.runs import (
    STATUS_KEYS,
    ResumeState,
    handle_failed_upload,
    remove_run_items,
    status_dict,
)
from fo_annotation_backends.fastlabel import FastLabelBackendConfig
from fo_annotation_backends.kili import KiliBackendConfig
from fo_annotation_backends.labelstudio import LabelStudioBackendConfig


class _Config:
    def __init__(self, name, label_schema, media_field="filepath", project_name=None, upload_workers=2, **kwargs):
        reject_unknown_parameters(type(self), name, kwargs)
        self.upload_workers = upload_workers


def test_valid_parameters_include_fiftyones_own():
    assert valid_parameters(_Config) == ["label_schema", "media_field", "name", "project_name", "upload_workers"]


def test_a_misspelled_parameter_names_the_closest_valid_one():
    with pytest.raises(ParameterError) as info:
        _Config("kili", {}, projcet_name="x")
    message = str(info.value)
    assert "'projcet_name'; did you mean 'project_name'?" in message
    assert "the kili backend" in message and "Nothing was created" in message


def test_several_unknown_parameters_are_all_named_and_far_ones_get_no_guess():
    with pytest.raises(ParameterError) as info:
        _Config("kili", {}, zzzzzz=1, upload_worker=3)
    message = str(info.value)
    assert "'upload_worker'; did you mean 'upload_workers'?" in message
    assert "'zzzzzz'" in message and "'zzzzzz';" not in message


@pytest.mark.parametrize("config_cls", [LabelStudioBackendConfig, KiliBackendConfig, FastLabelBackendConfig])
def test_every_backend_config_refuses_a_misspelled_parameter(config_cls):
    with pytest.raises(ParameterError, match="did you mean 'project_name'"):
        config_cls("svc", {}, projcet_name="x")


@pytest.mark.parametrize("config_cls", [LabelStudioBackendConfig, KiliBackendConfig, FastLabelBackendConfig])
def test_every_backend_config_takes_back_what_it_stores(config_cls):
    """FiftyOne rebuilds a config from its stored public attributes: every
    one of them must be a valid parameter."""
    config = config_cls("svc", {"gt": {"type": "detections", "classes": ["a"]}}, run_id="abc")
    stored = {k: v for k, v in vars(config).items() if not k.startswith("_")}
    rebuilt = config_cls(**stored)
    assert rebuilt.run_id == "abc"
    assert set(stored) <= set(valid_parameters(config_cls))


@pytest.mark.parametrize("value", [0, -1, 1.5, "3", True])
def test_check_positive_refuses_what_is_not_a_positive_integer(value):
    class C:
        workers = value

    with pytest.raises(ParameterError, match="`workers` must be a positive integer"):
        check_positive(C(), ["workers"])


def test_check_positive_accepts_none_and_positive_numbers():
    class C:
        a, b, c = None, 3, 0.5

    check_positive(C(), ["a", "b"])
    check_positive(C(), ["c"], integer=False)
    with pytest.raises(ParameterError):
        check_positive(C(), ["c"])


def test_check_choice():
    class C:
        mode = "maybe"

    with pytest.raises(ParameterError, match="`mode` must be one of True, False, 'auto', not 'maybe'"):
        check_choice(C(), "mode", (True, False, "auto"))
    C.mode = "auto"
    check_choice(C(), "mode", (True, False, "auto"))


def test_status_dict_has_the_common_keys_and_derives_unlabeled():
    status = status_dict("p1", total=10, labeled=4, reviewed=1, missing=2, annotators={"a": 3}, skipped=1)
    assert tuple(status) == STATUS_KEYS
    assert status["unlabeled"] == 4
    assert status["service"] == {"skipped": 1}


def test_remove_run_items_deletes_the_project_only_when_created_and_alone():
    calls = []

    def run(created, others):
        calls.clear()
        deleted = remove_run_items(
            created,
            lambda: calls.append("count") or others,
            lambda: calls.append("project"),
            lambda: calls.append("items"),
        )
        return deleted, list(calls)

    assert run(True, False) == (True, ["count", "project"])
    assert run(True, True) == (False, ["count", "items"])
    assert run(False, False) == (False, ["items"])  # not created: never counted, never deleted


class _Backend:
    def __init__(self):
        self.kept = False
        self.recorded = []

    def keep_run(self):
        self.kept = True

    def record_partial(self, samples, key, results):
        self.recorded.append((key, results))


class _Results:
    upload_complete = True


def test_failure_before_anything_exists_rolls_back_and_lets_the_error_go_on():
    backend, rolled = _Backend(), []
    handle_failed_upload(
        backend, None, "k", ValueError("x"), 0, 5, "tasks", "p", _Results(), roll_back=lambda: rolled.append(1)
    )
    assert rolled == [1] and not backend.kept and backend.recorded == []


def test_failure_halfway_keeps_an_unfinished_run_and_names_the_resume_call():
    backend, rolled = _Backend(), []
    partial = _Results()
    error = RuntimeError("outage")
    with pytest.raises(UploadInterruptedError) as info:
        handle_failed_upload(
            backend, None, "run7", error, 2, 5, "tasks", 42, partial, roll_back=lambda: rolled.append(1)
        )
    assert rolled == [] and backend.kept and backend.recorded == [("run7", partial)]
    message = str(info.value)
    assert "after 2 of 5 tasks" in message and "run the same annotate() call again (run key 'run7')" in message
    assert "dataset.delete_annotation_run('run7')" in message
    assert info.value.__cause__ is error and info.value.project == 42 and info.value.anno_key == "run7"


def test_failure_with_a_project_from_an_earlier_attempt_keeps_the_run():
    backend = _Backend()
    with pytest.raises(UploadInterruptedError, match="after 0 of 3 assets"):
        handle_failed_upload(backend, None, "k", RuntimeError("x"), 0, 3, "assets", "p", _Results(), owned_before=True)
    assert backend.kept


def test_an_interrupt_keeps_the_run_and_goes_on_as_it_is():
    backend = _Backend()
    handle_failed_upload(backend, None, "k", KeyboardInterrupt(), 1, 3, "assets", "p", _Results())
    assert backend.kept and len(backend.recorded) == 1


def test_resume_state_reads_the_partial_results():
    class Partial:
        project_id = 12
        project_created = True

    assert (ResumeState("r", Partial()).project_id, ResumeState("r", Partial()).project_created) == (12, True)
    assert (ResumeState("r").project_id, ResumeState("r").project_created) == (None, False)


def test_check_choice_compares_types_too():
    class C:
        mode = 1

    with pytest.raises(ParameterError, match="not 1"):
        check_choice(C(), "mode", (True, False, "auto"))


def test_check_positive_can_allow_zero():
    class C:
        retries, negative = 0, -1

    check_positive(C(), ["retries"], allow_zero=True)
    with pytest.raises(ParameterError, match="`negative` must be a non-negative integer, not -1"):
        check_positive(C(), ["negative"], allow_zero=True)
    with pytest.raises(ParameterError, match="`retries` must be a positive integer, not 0"):
        check_positive(C(), ["retries"])


def test_check_positive_can_refuse_none():
    class C:
        retries = None

    check_positive(C(), ["retries"])
    with pytest.raises(ParameterError, match="`retries` must be a non-negative integer, not None"):
        check_positive(C(), ["retries"], allow_zero=True, allow_none=False)
