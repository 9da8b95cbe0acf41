"""FastLabelBackendConfig: options, credentials, and what is stored."""

import json

import pytest

import fiftyone as fo

from fo_annotation_backends.core.errors import AnnotationBackendError
from fo_annotation_backends.fastlabel import FastLabelBackendConfig, FastLabelClient
from fo_annotation_backends.fastlabel.backend import DEFAULT_URL, task_name_for

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


def test_task_names_are_unique_per_run_and_keep_an_accepted_extension():
    assert task_name_for("run1", "abc", "/data/My Photo.JPG", False) == "my-photo-run1-abc.jpg"
    assert task_name_for("run1", "abc", "/data/scan.bmp", True) == "scan-run1-abc.png"
    assert task_name_for("run2", "abc", "/data/scan.png", False) != task_name_for("run1", "abc", "/data/scan.png", False)


def test_a_client_without_a_token_says_where_to_put_one():
    with pytest.raises(Exception, match="FIFTYONE_FASTLABEL_API_KEY"):
        FastLabelClient("http://127.0.0.1:9/v1/", None)
