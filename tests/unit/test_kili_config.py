"""The Kili backend config, results and helpers, without a server and without
a database."""

import json
import re
import uuid

import fiftyone as fo
import pytest

from fo_annotation_backends.core.errors import AnnotationBackendError, ParameterError
from fo_annotation_backends.core.schema import normalize_label_schema
from fo_annotation_backends.core.secrets import redact
from fo_annotation_backends.kili.backend import (
    KiliAnnotationResults,
    KiliBackendConfig,
    asset_id_for,
    external_id_for,
    select_label,
)
from fo_annotation_backends.kili.client import DEFAULT_URL
from fo_annotation_backends.kili.convert import KiliInterface
from fo_annotation_backends.kili.upload import merge_interfaces

API_KEY_ENV = "FIFTYONE_KILI_API_KEY"
URL_ENV = "FIFTYONE_KILI_URL"
SCHEMA = {"ground_truth": {"type": "detections", "classes": ["cat", "dog"]}}
# keys FiftyOne adds when it stores a run config; not constructor arguments
RUN_KEYS = ("cls", "type", "method")
_CUID_RE = re.compile(r"^c[0-9a-z]{24}$")


@pytest.fixture
def api_key():
    return "kilikey-%s" % uuid.uuid4().hex


@pytest.fixture
def no_kili_env(monkeypatch):
    """No Kili settings from the environment or the annotation config."""
    monkeypatch.delenv(URL_ENV, raising=False)
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    backends = {k: v for k, v in fo.annotation_config.backends.items() if k != "kili"}
    monkeypatch.setattr(fo.annotation_config, "backends", backends)


def make_config(**kwargs):
    return KiliBackendConfig("kili", SCHEMA, **kwargs)


# --------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------


@pytest.mark.parametrize("selection", ["latest", "latest_review"])
def test_label_selections_without_annotator(selection):
    assert make_config(label_selection=selection).label_selection == selection


def test_annotator_selection_needs_an_annotator():
    with pytest.raises(AnnotationBackendError, match="annotator"):
        make_config(label_selection="annotator")
    with pytest.raises(AnnotationBackendError, match="annotator"):
        make_config(label_selection="annotator", annotator="")

    config = make_config(label_selection="annotator", annotator="ann@example.com")
    assert config.annotator == "ann@example.com"


@pytest.mark.parametrize("selection", ["all", "Latest", "", None, "review"])
def test_unknown_label_selection_is_refused_naming_the_choices(selection):
    with pytest.raises(AnnotationBackendError) as info:
        make_config(label_selection=selection)

    text = str(info.value)
    for choice in ("latest", "latest_review", "annotator"):
        assert choice in text
    assert repr(selection) in text


@pytest.mark.parametrize(
    "option",
    ["upload_workers", "download_page_size", "max_assets_per_project", "max_calls", "window_seconds", "timeout"],
)
@pytest.mark.parametrize("value", [0, -1, "4", True])
def test_non_positive_numeric_options_are_refused(option, value):
    with pytest.raises(ParameterError) as info:
        make_config(**{option: value})

    assert "`%s`" % option in str(info.value) and repr(value) in str(info.value)


@pytest.mark.parametrize("value", [-1, 1.5, None, "3"])
def test_max_retries_must_be_a_non_negative_integer(value):
    with pytest.raises(ParameterError, match="max_retries"):
        make_config(max_retries=value)
    assert make_config(max_retries=0).max_retries == 0


@pytest.mark.parametrize(
    "option", ["consensus_mark_gte", "consensus_mark_lte", "honeypot_mark_gte", "honeypot_mark_lte"]
)
@pytest.mark.parametrize("value", [-0.1, 1.5, 80, "0.5", True])
def test_marks_out_of_range_are_refused(option, value):
    with pytest.raises(ParameterError, match=option):
        make_config(**{option: value})
    assert getattr(make_config(**{option: 0.5}), option) == 0.5


def test_an_empty_mark_range_is_refused():
    with pytest.raises(ParameterError, match="consensus_mark_gte"):
        make_config(consensus_mark_gte=0.8, consensus_mark_lte=0.2)
    make_config(consensus_mark_gte=0.2, consensus_mark_lte=0.2)


def test_unknown_statuses_are_refused_naming_kilis():
    with pytest.raises(ParameterError) as info:
        make_config(status_in=["LABELED", "DONE"])

    assert "'DONE'" in str(info.value) and "TO_REVIEW" in str(info.value)


@pytest.mark.parametrize("url", ["localhost:8080/api/label/v2/graphql", "ftp://kili.example.com", "kili"])
def test_a_url_that_is_not_http_is_refused_naming_the_endpoint(url):
    with pytest.raises(ParameterError) as info:
        make_config(url=url)

    assert "/api/label/v2/graphql" in str(info.value)


def test_a_misspelled_parameter_names_the_closest():
    with pytest.raises(ParameterError) as info:
        make_config(label_selecton="latest")

    assert "'label_selecton'" in str(info.value) and "did you mean 'label_selection'" in str(info.value)


def test_defaults():
    config = make_config()

    assert config.label_selection == "latest"
    assert config.annotator is None
    assert config.project_id is None
    assert config.max_assets_per_project == 25000
    assert config.model_name == "fiftyone"
    assert (config.max_calls, config.window_seconds) == (500, 60)
    assert config.asset_filters() == {}


# --------------------------------------------------------------------------
# the api key stays out of the serialized run
# --------------------------------------------------------------------------


def test_serialized_config_has_no_api_key(api_key):
    config = make_config(
        url="http://127.0.0.1:9/api/label/v2/graphql",
        api_key=api_key,
        project_name="my project",
        status_in=["LABELED"],
    )

    d = config.serialize()
    text = json.dumps(d)

    assert api_key not in text
    assert "api_key" not in d
    assert not any(key.startswith("_") for key in d)
    assert d["url"] == "http://127.0.0.1:9/api/label/v2/graphql"
    assert d["project_name"] == "my project"
    assert d["status_in"] == ["LABELED"]
    assert d["label_schema"] == SCHEMA
    assert d["cls"].endswith("KiliBackendConfig")


def test_config_is_rebuilt_from_its_serialized_form_without_the_key(api_key):
    config = make_config(api_key=api_key, project_id="p1", label_selection="annotator", annotator="a@b.c")
    d = json.loads(json.dumps(config.serialize()))

    rebuilt = KiliBackendConfig(**{k: v for k, v in d.items() if k not in RUN_KEYS})

    assert rebuilt.api_key is None
    assert rebuilt.project_id == "p1"
    assert rebuilt.label_selection == "annotator"
    assert rebuilt.annotator == "a@b.c"
    assert json.dumps(rebuilt.serialize()) == json.dumps(config.serialize())


def test_api_key_is_in_memory_only_and_registered_for_redaction(api_key):
    config = make_config(api_key=api_key)

    assert config.api_key == api_key
    assert api_key not in repr(config)
    assert api_key not in str(config)
    assert redact("key=%s" % api_key) == "key=***"


def test_api_key_set_later_is_registered_too():
    config = make_config()
    key = "late-%s" % uuid.uuid4().hex

    config.api_key = key

    assert config.api_key == key
    assert key not in json.dumps(config.serialize())
    assert redact("x %s y" % key) == "x *** y"


# --------------------------------------------------------------------------
# endpoint and credentials
# --------------------------------------------------------------------------


def test_endpoint_defaults_to_kili_cloud(no_kili_env):
    config = make_config()

    assert config.endpoint == DEFAULT_URL == "https://cloud.kili-technology.com/api/label/v2/graphql"
    assert config.url is None
    assert DEFAULT_URL in repr(config)


def test_endpoint_from_the_environment(no_kili_env, monkeypatch):
    monkeypatch.setenv(URL_ENV, "http://127.0.0.1:8000/api/label/v2/graphql")

    config = make_config()

    assert URL_ENV == "FIFTYONE_KILI_URL"
    assert config.endpoint == "http://127.0.0.1:8000/api/label/v2/graphql"
    assert config.url is None  # the environment is not baked into the run


def test_explicit_url_wins_over_the_environment(no_kili_env, monkeypatch):
    monkeypatch.setenv(URL_ENV, "http://env/api/label/v2/graphql")

    assert make_config(url="http://given/api/label/v2/graphql").endpoint == "http://given/api/label/v2/graphql"


def test_load_credentials_falls_back_to_the_environment(no_kili_env, monkeypatch):
    key = "env-%s" % uuid.uuid4().hex
    monkeypatch.setenv(API_KEY_ENV, key)
    config = make_config()

    config.load_credentials()

    assert API_KEY_ENV == "FIFTYONE_KILI_API_KEY"
    assert config.api_key == key
    assert key not in json.dumps(config.serialize())
    assert redact(key) == "***"


def test_load_credentials_without_any_key_leaves_none(no_kili_env):
    config = make_config()

    config.load_credentials()

    assert config.api_key is None
    assert config.endpoint == DEFAULT_URL


def test_load_credentials_explicit_arguments_win(no_kili_env, monkeypatch):
    monkeypatch.setenv(API_KEY_ENV, "env-key-should-lose")
    config = make_config()

    key = "arg-%s" % uuid.uuid4().hex
    config.load_credentials(url="http://arg/api/label/v2/graphql", api_key=key)

    assert config.api_key == key
    assert config.endpoint == "http://arg/api/label/v2/graphql"


def test_load_credentials_keeps_a_key_already_given(no_kili_env, monkeypatch, api_key):
    monkeypatch.setenv(API_KEY_ENV, "env-key-should-lose")
    config = make_config(api_key=api_key)

    config.load_credentials()

    assert config.api_key == api_key


def test_load_credentials_reads_the_annotation_config_before_the_environment(no_kili_env, monkeypatch):
    monkeypatch.setenv(API_KEY_ENV, "env-key-should-lose")
    backends = dict(fo.annotation_config.backends)
    key = "cfg-%s" % uuid.uuid4().hex
    backends["kili"] = {"api_key": key, "url": "http://cfg/api/label/v2/graphql"}
    monkeypatch.setattr(fo.annotation_config, "backends", backends)
    config = make_config()

    config.load_credentials()

    assert config.api_key == key
    assert config.endpoint == "http://cfg/api/label/v2/graphql"


# --------------------------------------------------------------------------
# asset filters
# --------------------------------------------------------------------------


def test_asset_filters_map_to_asset_where_keys():
    config = make_config(
        status_in=("LABELED", "REVIEWED"),
        consensus_mark_gte=0.5,
        consensus_mark_lte=0.9,
        honeypot_mark_gte=0.1,
        honeypot_mark_lte=1,
    )

    assert config.asset_filters() == {
        "statusIn": ["LABELED", "REVIEWED"],
        "consensusMarkGte": 0.5,
        "consensusMarkLte": 0.9,
        "honeypotMarkGte": 0.1,
        "honeypotMarkLte": 1,
    }
    assert config.status_in == ["LABELED", "REVIEWED"]  # a list, JSON-able


def test_asset_filters_keep_zero_bounds_and_drop_empty_statuses():
    config = make_config(status_in=[], consensus_mark_gte=0, honeypot_mark_lte=0.0)

    assert config.asset_filters() == {"consensusMarkGte": 0, "honeypotMarkLte": 0.0}


def test_asset_filters_return_a_fresh_dict():
    config = make_config(status_in=["LABELED"])
    filters = config.asset_filters()
    filters["statusIn"].append("TODO")

    assert config.asset_filters() == {"statusIn": ["LABELED"]}


# --------------------------------------------------------------------------
# the label that counts
# --------------------------------------------------------------------------


def label(label_type, created_at, email="a@example.com", **extra):
    return dict(extra, labelType=label_type, createdAt=created_at, author={"email": email})


LABELS = [
    label("DEFAULT", "2024-01-01T10:00:00.000Z", "a@example.com", id="d1"),
    label("REVIEW", "2024-01-02T10:00:00.000Z", "rev@example.com", id="r1"),
    label("DEFAULT", "2024-01-03T10:00:00.000Z", "b@example.com", id="d2"),
    label("PREDICTION", "2024-01-09T10:00:00.000Z", "a@example.com", id="p1"),
    label("AUTOSAVE", "2024-01-08T10:00:00.000Z", "a@example.com", id="s1"),
    label("INFERENCE", "2024-01-07T10:00:00.000Z", "a@example.com", id="i1"),
]


def test_latest_is_the_latest_default_or_review_label():
    assert select_label(LABELS)["id"] == "d2"
    assert select_label(LABELS, "latest")["id"] == "d2"


def test_latest_can_be_a_review():
    labels = LABELS + [label("REVIEW", "2024-01-04T00:00:00.000Z", "rev@example.com", id="r2")]
    assert select_label(labels)["id"] == "r2"


def test_latest_is_chosen_by_created_at_not_by_position():
    labels = list(reversed(LABELS))
    assert select_label(labels)["id"] == "d2"


def test_latest_review_ignores_default_labels():
    assert select_label(LABELS, "latest_review")["id"] == "r1"
    assert select_label([label for label in LABELS if label["labelType"] != "REVIEW"], "latest_review") is None


def test_annotator_is_matched_case_insensitively():
    labels = LABELS + [label("DEFAULT", "2024-01-05T00:00:00.000Z", "B@Example.com", id="d3")]

    assert select_label(labels, "annotator", "b@example.com")["id"] == "d3"
    assert select_label(labels, "annotator", "A@EXAMPLE.COM")["id"] == "d1"  # not its later prediction
    assert select_label(labels, "annotator", "REV@example.com")["id"] == "r1"
    assert select_label(labels, "annotator", "nobody@example.com") is None


def test_annotator_labels_without_an_author_never_match():
    labels = [
        {"labelType": "DEFAULT", "createdAt": "2024", "author": None},
        {"labelType": "DEFAULT", "createdAt": "2025"},
    ]

    assert select_label(labels, "annotator", "a@example.com") is None
    assert select_label(labels)["createdAt"] == "2025"


@pytest.mark.parametrize(
    "labels",
    [
        None,
        [],
        [label("PREDICTION", "2024-01-01T00:00:00Z"), label("AUTOSAVE", "2024-01-02T00:00:00Z")],
        [label("INFERENCE", "2024-01-01T00:00:00Z")],
    ],
)
@pytest.mark.parametrize("selection", ["latest", "latest_review"])
def test_no_human_label_is_none(labels, selection):
    assert select_label(labels, selection) is None


def test_a_label_without_created_at_loses_to_a_dated_one():
    labels = [{"labelType": "DEFAULT", "id": "undated"}, label("DEFAULT", "2024-01-01T00:00:00Z", id="dated")]
    assert select_label(labels)["id"] == "dated"


# --------------------------------------------------------------------------
# asset ids and external ids
# --------------------------------------------------------------------------


def test_asset_id_is_deterministic_and_cuid_like():
    asset_id = asset_id_for("proj1", "run1", "5f0000000000000000000001")

    assert asset_id == asset_id_for("proj1", "run1", "5f0000000000000000000001")
    assert len(asset_id) == 25
    assert asset_id.startswith("c")
    assert _CUID_RE.match(asset_id), asset_id


def test_asset_ids_differ_across_project_run_id_and_sample():
    base = ("proj1", "run1", "5f0000000000000000000001")
    variants = [
        base,
        ("proj2", "run1", "5f0000000000000000000001"),
        ("proj1", "run2", "5f0000000000000000000001"),
        ("proj1", "run1", "5f0000000000000000000002"),
    ]
    ids = [asset_id_for(*v) for v in variants]
    assert len(set(ids)) == len(ids)

    many = {asset_id_for("p", "k", "%024x" % i) for i in range(2000)}
    assert len(many) == 2000
    assert all(_CUID_RE.match(a) for a in many)


def test_external_id_names_the_run_the_sample_and_the_run_id():
    run_id = "0123456789abcdef0123456789abcdef"
    assert external_id_for("run1", "5f0000000000000000000001", run_id) == "run1_5f0000000000000000000001_01234567"
    assert external_id_for("run1", "s1", run_id) != external_id_for("run2", "s1", run_id)
    assert external_id_for("run1", "s1", run_id) != external_id_for("run1", "s2", run_id)
    # a clone of the dataset (same sample ids) under the same key is another run
    assert external_id_for("run1", "s1", run_id) != external_id_for("run1", "s1", "fedcba98" + run_id[8:])


# --------------------------------------------------------------------------
# merging a run's jobs into an existing project
# --------------------------------------------------------------------------

JOB_A = {"mlTask": "CLASSIFICATION", "content": {"input": "radio", "categories": {"CAT": {"name": "cat"}}}}
JOB_B = {"mlTask": "OBJECT_DETECTION", "tools": ["rectangle"], "content": {"categories": {"DOG": {"name": "dog"}}}}


def test_merge_adds_our_jobs_and_keeps_theirs():
    theirs = {"jobs": {"THEIRS": JOB_B}, "other": "kept"}

    merged = merge_interfaces("p1", theirs, {"jobs": {"OURS": JOB_A}})

    assert merged == {"jobs": {"THEIRS": JOB_B, "OURS": JOB_A}, "other": "kept"}
    assert theirs == {"jobs": {"THEIRS": JOB_B}, "other": "kept"}  # not modified


@pytest.mark.parametrize("theirs", [None, {}, {"jobs": {}}, {"jobs": None}])
def test_merge_into_an_empty_interface(theirs):
    assert merge_interfaces("p1", theirs, {"jobs": {"OURS": JOB_A}}) == {"jobs": {"OURS": JOB_A}}


def test_merge_with_the_same_job_already_there_is_unchanged():
    theirs = {"jobs": {"OURS": json.loads(json.dumps(JOB_A)), "THEIRS": JOB_B}}

    merged = merge_interfaces("p1", theirs, {"jobs": {"OURS": JOB_A}})

    assert merged == theirs


def test_merge_with_a_conflicting_job_names_it():
    theirs = {"jobs": {"GROUND_TRUTH": JOB_B}}

    with pytest.raises(AnnotationBackendError) as info:
        merge_interfaces("proj-42", theirs, {"jobs": {"OTHER": JOB_A, "GROUND_TRUTH": JOB_A}})

    text = str(info.value)
    assert "'GROUND_TRUTH'" in text
    assert "proj-42" in text
    assert "nothing was uploaded" in text


# --------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------


def test_results_from_dict_restore_the_run(api_key):
    config = make_config(url="http://127.0.0.1:8000/api/label/v2/graphql", api_key=api_key)
    fields = normalize_label_schema(SCHEMA)
    interface = KiliInterface(fields)
    d = json.loads(
        json.dumps(
            {
                "id_map": {"ground_truth": {"s1": ["a" * 24]}},
                "project_id": "proj9",
                "asset_ids": {"s1": "c1", "s2": "c2"},
                "interface_mapping": interface.to_dict(),
                "project_created": True,
                "upload_complete": False,
            }
        )
    )

    results = KiliAnnotationResults._from_dict(d, None, config, "run1")

    assert results.project_id == "proj9"
    assert results.asset_ids == {"s1": "c1", "s2": "c2"}
    assert results.sample_to_asset == {"s1": "c1", "s2": "c2"}
    assert results.project_created is True
    assert results.upload_complete is False
    assert results.id_map == {"ground_truth": {"s1": ["a" * 24]}}
    assert results.project_url == "http://127.0.0.1:8000/label/projects/proj9/"
    assert results.interface(fields).json_interface() == interface.json_interface()
    assert results.interface(fields).to_dict() == interface.to_dict()


def test_results_from_an_older_dict_use_defaults():
    results = KiliAnnotationResults._from_dict({"id_map": {}, "project_id": "p"}, None, make_config(), "run1")

    assert results.asset_ids == {}
    assert results.interface_mapping is None
    # never guessed: a record that does not say so never claims the project
    assert results.project_created is False
    assert results.upload_complete is True


def test_results_serialize_what_the_run_owns():
    results = KiliAnnotationResults(
        None,
        make_config(),
        "run1",
        {},
        project_id="p",
        asset_ids={"s1": "c1"},
        project_created=True,
        upload_complete=False,
    )

    stored = json.loads(json.dumps(results.serialize()))

    assert (stored["project_created"], stored["upload_complete"]) == (True, False)
    again = KiliAnnotationResults._from_dict(stored, None, make_config(), "run1")
    assert (again.project_id, again.asset_ids, again.project_created, again.upload_complete) == (
        "p",
        {"s1": "c1"},
        True,
        False,
    )
