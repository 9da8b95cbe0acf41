"""FastLabelBackendConfig: options, credentials, and what is stored."""

import json
import re

import fiftyone as fo
import pytest

from fo_annotation_backends.core.errors import AnnotationBackendError, ParameterError
from fo_annotation_backends.fastlabel import FastLabelBackendConfig, FastLabelClient
from fo_annotation_backends.fastlabel.backend import DEFAULT_URL
from fo_annotation_backends.fastlabel.upload import is_run_task_name, project_slug_for, task_name_for

SCHEMA = {"gt": {"type": "detections", "classes": ["cat"]}}


def _config(**kwargs):
    return FastLabelBackendConfig("fastlabel", SCHEMA, **kwargs)


@pytest.mark.parametrize("given, stored", [(None, None), (0, 0), (30, 30), ("high", 30), ("Low", 10), ("none", 0)])
def test_priority_accepts_numbers_and_names(given, stored):
    assert _config(priority=given).priority == stored


@pytest.mark.parametrize("bad", [5, "urgent", True, 40])
def test_a_bad_priority_is_refused(bad):
    with pytest.raises(AnnotationBackendError, match="priority"):
        _config(priority=bad)


def test_tags_and_statuses_accept_a_string_or_a_list():
    config = _config(tags="batch-1", load_statuses="approved")
    assert (config.tags, config.load_statuses) == (["batch-1"], ["approved"])
    assert _config().load_statuses == ["completed", "reviewed", "approved"]


def test_the_token_is_kept_out_of_the_stored_config_and_reprs():
    config = _config(api_key="secret-token-123456")
    assert "secret-token-123456" not in json.dumps(config.serialize(), default=str)
    assert "secret-token-123456" not in repr(config)
    assert config.api_key == "secret-token-123456"


def test_credentials_and_url_come_from_either_environment_name(monkeypatch):
    monkeypatch.setitem(fo.annotation_config.backends, "fastlabel", {})
    for name in ("FIFTYONE_FASTLABEL_API_KEY", "FASTLABEL_ACCESS_TOKEN", "FIFTYONE_FASTLABEL_URL", "FASTLABEL_API_URL"):
        monkeypatch.delenv(name, raising=False)
    config = _config()
    assert config.endpoint == DEFAULT_URL
    monkeypatch.setenv("FASTLABEL_ACCESS_TOKEN", "sdk-token")
    monkeypatch.setenv("FASTLABEL_API_URL", "http://127.0.0.1:9/v1/")
    config.load_credentials()
    assert config.api_key == "sdk-token" and config.endpoint == "http://127.0.0.1:9/v1/"
    monkeypatch.setenv("FIFTYONE_FASTLABEL_API_KEY", "fo-token")
    config = _config()
    config.load_credentials()
    assert config.api_key == "fo-token"


RUN = "0123456789abcdef0123456789abcdef"
SAMPLE = "0123456789abcdef01234567"


def test_task_names_are_unique_per_run_keep_an_accepted_extension_and_carry_the_run_mark():
    assert (
        task_name_for("run1", RUN, SAMPLE, "/data/My Photo.JPG", False) == "my-photo-run1-%s-0123456789ab.jpg" % SAMPLE
    )
    assert task_name_for("run1", RUN, SAMPLE, "/data/scan.bmp", True).endswith("-0123456789ab.png")
    assert task_name_for("run2", RUN, SAMPLE, "/a/s.png", False) != task_name_for(
        "run1", RUN, SAMPLE, "/a/s.png", False
    )
    other_run = "f" * 32
    assert task_name_for("run1", other_run, SAMPLE, "/a/s.png", False) != task_name_for(
        "run1", RUN, SAMPLE, "/a/s.png", False
    )
    name = task_name_for("run1", RUN, SAMPLE, "/data/scan.png", False)
    assert is_run_task_name(name, RUN) and not is_run_task_name(name, other_run)
    assert not is_run_task_name("scan-run1-%s.png" % SAMPLE, RUN)  # a name without the mark


def test_the_project_slug_is_readable_valid_and_ends_with_the_run_mark():
    slug = project_slug_for("My Dataset/ä", "Run 1", RUN)
    assert re.match(r"^[a-z0-9][a-z0-9_-]{0,99}$", slug)
    assert slug.startswith("fiftyone-my-dataset") and slug.endswith("-0123456789ab")
    assert (
        project_slug_for("x" * 200, "k", RUN).endswith("-0123456789ab")
        and len(project_slug_for("x" * 200, "k", RUN)) <= 100
    )


def test_a_client_without_a_token_says_where_to_put_one():
    with pytest.raises(Exception, match="FIFTYONE_FASTLABEL_API_KEY"):
        FastLabelClient("http://127.0.0.1:9/v1/", None)


@pytest.mark.parametrize(
    "option, value, named",
    [
        ("upload_workers", 0, "upload_workers"),
        ("upload_workers", 2.5, "upload_workers"),
        ("max_calls", -1, "max_calls"),
        ("window_seconds", 0, "window_seconds"),
        ("window_seconds", None, "window_seconds"),
        ("timeout", -3, "timeout"),
        ("max_retries", -1, "max_retries"),
        ("max_retries", "5", "max_retries"),
        ("tags", ["ok", 3], "tags"),
        ("tags", [""], "tags"),
        ("load_statuses", ["done"], "load_statuses"),
        ("load_statuses", [], "load_statuses"),
        ("convert_to_png", "yes", "convert_to_png"),
        ("project", "", "project"),
        ("assignee", 7, "assignee"),
        ("url", "api.fastlabel.ai/v1/", "/v1/"),
    ],
)
def test_bad_options_are_refused_when_the_config_is_built(option, value, named):
    with pytest.raises(ParameterError) as info:
        _config(**{option: value})
    assert named in str(info.value)


def test_good_options_pass():
    config = _config(upload_workers=1, max_calls=None, window_seconds=0.5, timeout=1, max_retries=0, url="http://h/v1/")
    assert (config.max_calls, config.max_retries, config.endpoint) == (None, 0, "http://h/v1/")
    assert _config(load_statuses=["skipped", "customer_declined"]).load_statuses == ["skipped", "customer_declined"]
