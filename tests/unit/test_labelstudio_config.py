"""The backend config and results serialise without secrets and without a
database."""

import json
import uuid

import pytest

from fo_annotation_backends.core.errors import ParameterError
from fo_annotation_backends.core.secrets import redact
from fo_annotation_backends.labelstudio.backend import (
    LabelStudioAnnotationResults,
    LabelStudioBackendConfig,
    latest_annotation,
)

SCHEMA = {"ground_truth": {"type": "detections", "classes": ["cat", "dog"]}}
# keys FiftyOne adds when it stores a run config; not constructor arguments
RUN_KEYS = ("cls", "type", "method")


@pytest.fixture
def api_key():
    return "lskey-%s" % uuid.uuid4().hex


@pytest.fixture
def config(api_key):
    return LabelStudioBackendConfig(
        "labelstudio",
        SCHEMA,
        url="http://localhost:8080",
        api_key=api_key,
        project_name="my project",
        upload_max_files=10,
    )


def test_serialized_config_has_no_api_key(config, api_key):
    d = config.serialize()
    text = json.dumps(d)

    assert api_key not in text
    assert "api_key" not in d
    assert not any(key.startswith("_") for key in d)
    assert d["url"] == "http://localhost:8080"
    assert d["project_name"] == "my project"
    assert d["upload_max_files"] == 10
    assert d["label_schema"] == SCHEMA
    assert d["cls"].endswith("LabelStudioBackendConfig")


def test_config_is_rebuilt_from_its_serialized_form(config):
    d = json.loads(json.dumps(config.serialize()))
    kwargs = {k: v for k, v in d.items() if k not in RUN_KEYS}

    rebuilt = LabelStudioBackendConfig(**kwargs)

    assert rebuilt.api_key is None
    assert rebuilt.url == config.url
    assert rebuilt.project_name == config.project_name
    assert rebuilt.upload_max_files == 10
    assert rebuilt.label_schema == SCHEMA
    assert json.dumps(rebuilt.serialize()) == json.dumps(config.serialize())


def test_api_key_is_available_in_memory_and_registered_for_redaction(config, api_key):
    assert config.api_key == api_key
    assert redact("token %s" % api_key) == "token ***"
    assert api_key not in repr(config)


def test_results_from_dict_restores_int_task_ids(config):
    d = {
        "id_map": {"ground_truth": {"s1": ["a" * 24]}},
        "project_id": 12,
        "uploaded_tasks": {"101": "s1", "102": "s2"},
        "tags": {"ground_truth": "ground_truth"},
        "attribute_tags": {"ground_truth": {}},
        "project_created": False,
    }

    results = LabelStudioAnnotationResults._from_dict(d, None, config, "run1")

    assert results.uploaded_tasks == {101: "s1", 102: "s2"}
    assert results.task_ids == [101, 102]
    assert results.sample_to_task == {"s1": 101, "s2": 102}
    assert results.project_id == 12
    assert results.project_created is False
    assert results.project_url == "http://localhost:8080/projects/12/data"


def test_latest_annotation_is_the_last_submitted_one():
    task = {
        "annotations": [
            {"id": 1, "updated_at": "2024-01-01T10:00:00Z", "result": ["old"]},
            {"id": 3, "updated_at": "2024-01-03T10:00:00Z", "was_cancelled": True, "result": ["skipped"]},
            {"id": 2, "updated_at": "2024-01-02T10:00:00Z", "result": ["new"]},
        ]
    }
    assert latest_annotation(task)["id"] == 2


@pytest.mark.parametrize(
    "task",
    [None, {}, {"annotations": []}, {"annotations": [{"id": 1, "was_cancelled": True}]}],
)
def test_untouched_or_only_skipped_tasks_have_no_annotation(task):
    assert latest_annotation(task) is None


# -- every option is checked when the config is built ---------------------------


def build(**kwargs):
    return LabelStudioBackendConfig("labelstudio", SCHEMA, url="http://localhost:8080", **kwargs)


def test_a_misspelled_parameter_names_the_closest_one():
    with pytest.raises(ParameterError, match="'projet_name'; did you mean 'project_name'"):
        build(projet_name="x")


@pytest.mark.parametrize(
    "name, value",
    [
        ("upload_max_files", 0),
        ("upload_max_bytes", -1),
        ("upload_workers", 1.5),
        ("import_batch_size", "500"),
        ("export_max_tasks", 0),
        ("download_page_size", -5),
        ("max_calls", 0),
        ("project_id", 0),
        ("timeout", 0),
        ("window_seconds", -1.0),
        ("max_retries", -1),
        ("max_retries", True),
    ],
)
def test_numeric_options_must_be_positive(name, value):
    with pytest.raises(ParameterError, match="`%s` must be" % name):
        build(**{name: value})


def test_zero_retries_and_numeric_strings_from_env_vars_are_accepted():
    config = build(max_retries=0, project_id="12", reuse_project="true", local_files="False")
    assert (config.max_retries, config.project_id, config.reuse_project, config.local_files) == (0, 12, True, False)


@pytest.mark.parametrize("value", ["sometimes", 2, "yes please"])
def test_local_files_must_be_true_false_or_auto(value):
    with pytest.raises(ParameterError, match="`local_files` must be one of True, False, 'auto'"):
        build(local_files=value)


@pytest.mark.parametrize("name", ["ab", "x" * 51])
def test_project_name_length_is_checked(name):
    with pytest.raises(ParameterError, match="Label Studio needs 3 to 50"):
        build(project_name=name)


@pytest.mark.parametrize("url", ["localhost:8080", "ftp://host", "http://"])
def test_url_must_be_an_http_address(url):
    with pytest.raises(ParameterError, match="`url` must be the http"):
        LabelStudioBackendConfig("labelstudio", SCHEMA, url=url)


def test_run_state_is_serialized_and_restored(config):
    d = {"id_map": {}, "project_id": 3, "uploaded_tasks": {}, "project_created": True, "upload_complete": False}
    results = LabelStudioAnnotationResults._from_dict(d, None, config, "run1")
    assert results.project_created is True and results.upload_complete is False
    assert results.serialize()["upload_complete"] is False and results.serialize()["project_created"] is True
    old = LabelStudioAnnotationResults._from_dict({"id_map": {}, "project_id": 3}, None, config, "run1")
    assert old.project_created is False  # an old record never lets cleanup delete the project
