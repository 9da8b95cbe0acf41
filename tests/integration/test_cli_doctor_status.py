"""``doctor`` and ``status`` of the command line, run as a subprocess the way
a user runs them: FiftyOne's database, the Kili and FastLabel emulators (this
package's pytest fixtures), a config file in tmp_path
(``FIFTYONE_ANNOTATION_CONFIG_PATH``), a plugins folder in tmp_path
(``FIFTYONE_PLUGINS_DIR``) and a home in tmp_path: the real ``~/.fiftyone`` is
never read nor written."""

import json
import os
import socket
import subprocess
import sys

import pytest
from kili_helpers import add_images, box_annotation, dets, job, key

from fo_annotation_backends.cli import CONFIG_CLASSES

pytestmark = pytest.mark.integration

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WRONG_KEY = "wrong-key-0123456789abcdef"
SCHEMA = {"ground_truth": {"type": "detections", "classes": ["cat", "dog"]}}


@pytest.fixture
def cli_env(tmp_path):
    """The environment of a CLI subprocess: this test's database, the files
    of this test, and no key of the caller's environment."""
    home = tmp_path / "home"
    home.mkdir()
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("FIFTYONE_LABELSTUDIO_", "FIFTYONE_KILI_", "FIFTYONE_FASTLABEL_", "FASTLABEL_"))
        and name not in ("FIFTYONE_ANNOTATION_BACKENDS", "FIFTYONE_CONFIG_PATH")
    }
    env.update(
        HOME=str(home),
        FIFTYONE_ANNOTATION_CONFIG_PATH=str(tmp_path / "annotation_config.json"),
        FIFTYONE_PLUGINS_DIR=str(tmp_path / "plugins"),
        PYTHONPATH=ROOT,
    )
    return env


def run_cli(env, *args, timeout=240):
    done = subprocess.run(
        [sys.executable, "-m", "fo_annotation_backends", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    return done.returncode, done.stdout, done.stderr


def write_config(env, backends):
    path = env["FIFTYONE_ANNOTATION_CONFIG_PATH"]
    with open(path, "w") as f:
        json.dump({"backends": backends}, f)
    return path


def lines_of(out, tag, subject):
    return [line for line in out.splitlines() if line.startswith("%-4s  %s:" % (tag, subject))]


@pytest.fixture
def emulator_config(cli_env, kili_emulator, fastlabel_emulator):
    """Our backends pointed at the emulators, the keys in the environment."""
    write_config(
        cli_env,
        {
            "kili": {"config_cls": CONFIG_CLASSES["kili"], "url": kili_emulator.url},
            "fastlabel": {"config_cls": CONFIG_CLASSES["fastlabel"], "url": fastlabel_emulator.url},
            "cvat": {"url": "https://cvat.example.com"},
        },
    )
    cli_env["FIFTYONE_KILI_API_KEY"] = kili_emulator.api_key
    cli_env["FIFTYONE_FASTLABEL_API_KEY"] = fastlabel_emulator.api_key
    return cli_env


# ----------------------------------------------------------------------
# doctor


def test_doctor_is_ok_against_the_emulators(emulator_config, kili_emulator, fastlabel_emulator):
    env = emulator_config
    assert run_cli(env, "plugin", "install")[0] == 0
    code, out, err = run_cli(env, "doctor")
    assert code == 0, out + err
    assert lines_of(out, "ok", "database")
    assert lines_of(out, "ok", "config")
    for name, emulator, title in (("kili", kili_emulator, "Kili"), ("fastlabel", fastlabel_emulator, "FastLabel")):
        assert any("config_cls %s imports" % CONFIG_CLASSES[name] in line for line in lines_of(out, "ok", name)), out
        assert any(
            "API key found in env FIFTYONE_%s_API_KEY" % name.upper() in line for line in lines_of(out, "ok", name)
        ), out
        assert any(
            "%s at %s answers and accepts the key" % (title, emulator.url) in line for line in lines_of(out, "ok", name)
        ), out
        assert emulator.api_key not in out + err
    assert any("not one of ours" in line for line in lines_of(out, "ok", "cvat"))  # a foreign entry: only imported
    assert lines_of(out, "ok", "plugin")
    assert not [line for line in out.splitlines() if line.startswith(("FAIL", "warn"))], out
    assert out.rstrip().endswith("doctor: everything is ok")


def test_doctor_fails_on_a_wrong_key_says_how_to_fix_it_and_prints_no_key(
    emulator_config, kili_emulator, fastlabel_emulator
):
    env = emulator_config
    env["FIFTYONE_KILI_API_KEY"] = WRONG_KEY
    # the FastLabel key: a wrong one written in the file (and none in the env)
    del env["FIFTYONE_FASTLABEL_API_KEY"]
    code, _, _ = run_cli(env, "setup", "--backends", "fastlabel", "--write-api-key", "fastlabel=" + WRONG_KEY + "-fl")
    assert code == 0
    code, out, err = run_cli(env, "doctor")
    assert code == 1, out + err
    kili_fail = lines_of(out, "FAIL", "kili")
    assert len(kili_fail) == 1 and "refused the API key" in kili_fail[0] and "env FIFTYONE_KILI_API_KEY" in kili_fail[0]
    assert "-- fix: put a valid key in FIFTYONE_KILI_API_KEY" in kili_fail[0]
    fastlabel_fail = lines_of(out, "FAIL", "fastlabel")
    assert len(fastlabel_fail) == 1 and "refused the API key" in fastlabel_fail[0] and "-- fix:" in fastlabel_fail[0]
    assert "the config file" in fastlabel_fail[0]
    assert lines_of(out, "ok", "database")
    for secret in (WRONG_KEY, kili_emulator.api_key, fastlabel_emulator.api_key):
        assert secret not in out + err
    assert "doctor: 2 failure(s)" in out


def test_doctor_names_a_missing_key_and_a_server_that_does_not_answer(cli_env, kili_emulator):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    write_config(
        cli_env,
        {
            "kili": {"config_cls": CONFIG_CLASSES["kili"], "url": "http://127.0.0.1:%d/api/label/v2/graphql" % closed},
            "fastlabel": {"config_cls": CONFIG_CLASSES["fastlabel"], "url": "http://127.0.0.1:%d/v1/" % closed},
            "labelstudio": {"config_cls": CONFIG_CLASSES["labelstudio"]},
        },
    )
    cli_env["FIFTYONE_KILI_API_KEY"] = kili_emulator.api_key
    code, out, err = run_cli(cli_env, "doctor", "--timeout", "3")
    assert code == 1, out + err
    (kili,) = lines_of(out, "FAIL", "kili")
    assert (
        "no answer from http://127.0.0.1:%d" % closed in kili and "-- fix: start the server or correct the url" in kili
    )
    (fastlabel,) = lines_of(out, "FAIL", "fastlabel")
    assert "no API key" in fastlabel and "-- fix: export FIFTYONE_FASTLABEL_API_KEY=" in fastlabel
    labelstudio = lines_of(out, "FAIL", "labelstudio")
    assert any("no API key" in line for line in labelstudio)
    assert any("no server URL" in line and "--url labelstudio=" in line for line in labelstudio)
    assert kili_emulator.api_key not in out + err
    assert lines_of(out, "warn", "plugin") and "plugin install" in lines_of(out, "warn", "plugin")[0]


def test_doctor_names_the_endpoint_expected_when_the_url_is_not_the_api(cli_env, kili_emulator, fastlabel_emulator):
    kili_root = kili_emulator.url.split("/api/label/")[0] + "/"
    fastlabel_root = fastlabel_emulator.url.rstrip("/")[: -len("/v1")] + "/"
    write_config(
        cli_env,
        {
            "kili": {"config_cls": CONFIG_CLASSES["kili"], "url": kili_root},
            "fastlabel": {"config_cls": CONFIG_CLASSES["fastlabel"], "url": fastlabel_root},
        },
    )
    cli_env["FIFTYONE_KILI_API_KEY"] = kili_emulator.api_key
    cli_env["FIFTYONE_FASTLABEL_API_KEY"] = fastlabel_emulator.api_key
    code, out, err = run_cli(cli_env, "doctor", "--timeout", "5")
    assert code == 1, out + err
    (kili,) = lines_of(out, "FAIL", "kili")
    assert "api/label/v2/graphql" in kili and "-- fix:" in kili, kili
    (fastlabel,) = lines_of(out, "FAIL", "fastlabel")
    assert "is not the FastLabel API" in fastlabel and "/v1/" in fastlabel, fastlabel
    assert "-- fix: point the url at the FastLabel API (the API base, ending in /v1/)" in fastlabel
    assert kili_emulator.api_key not in out + err and fastlabel_emulator.api_key not in out + err


def test_doctor_warns_when_fiftyone_annotation_backends_hides_an_entry(emulator_config):
    emulator_config["FIFTYONE_ANNOTATION_BACKENDS"] = "*,kili"
    code, out, err = run_cli(emulator_config, "doctor")
    assert code == 0, out + err
    (hidden,) = lines_of(out, "warn", "backends")
    assert "hides fastlabel of the config file" in hidden and "-- fix:" in hidden  # cvat: kept by "*"
    assert not lines_of(out, "ok", "fastlabel") and lines_of(out, "ok", "kili")


def test_doctor_with_a_config_path_and_broken_configs(cli_env, tmp_path):
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"backends": {"mine": {"config_cls": "no_such_module.NoConfig"}}}))
    code, out, err = run_cli(cli_env, "doctor", "--config-path", str(other))
    assert code == 1, out + err
    assert lines_of(out, "ok", "config") and str(other) in lines_of(out, "ok", "config")[0]
    assert any("export FIFTYONE_ANNOTATION_CONFIG_PATH=%s" % other in line for line in lines_of(out, "warn", "config"))
    (mine,) = lines_of(out, "FAIL", "mine")
    assert "does not import" in mine and "-- fix:" in mine
    (ours,) = lines_of(out, "FAIL", "backends")
    assert "no backend of fo-annotation-backends" in ours and "setup" in ours

    other.write_text("{not json")
    code, out, err = run_cli(cli_env, "doctor", "--config-path", str(other))
    assert code == 1
    (broken,) = lines_of(out, "FAIL", "config")
    assert "not valid JSON" in broken and "-- fix:" in broken


# ----------------------------------------------------------------------
# status


@pytest.fixture
def kili_run(kili_dataset, kili_backend, kili_annotator, tmp_path):
    """A tiny dataset annotated with ``kili`` against the emulator; one asset
    labeled by alice."""
    dataset = kili_dataset
    dataset.persistent = True  # seen by the CLI's process (deleted by the fixture)
    media = tmp_path / "media"
    media.mkdir()
    add_images(dataset, str(media), 3, ground_truth=lambda i: dets(("cat", [0.1, 0.1, 0.2, 0.2])))
    results = dataset.annotate("cli_run", backend=kili_backend, label_schema=SCHEMA)
    first = dataset.first()
    response = {
        job(results, "ground_truth"): {
            "annotations": [box_annotation("new-1", key(results, "ground_truth", "dog"), 0.5, 0.5, 0.7, 0.7)]
        }
    }
    kili_annotator.submit(results.project_id, results.asset_ids[first.id], response, author="alice@example.com")
    return dataset, results


def test_status_of_a_kili_run(kili_run, cli_env, kili_emulator, tmp_path):
    dataset, results = kili_run
    write_config(cli_env, {"kili": {"config_cls": CONFIG_CLASSES["kili"], "url": kili_emulator.url}})
    cli_env["FIFTYONE_KILI_API_KEY"] = kili_emulator.api_key

    code, out, err = run_cli(cli_env, "status", dataset.name, "cli_run")
    assert code == 0, out + err
    assert "run 'cli_run' of dataset %r (backend kili)" % dataset.name in out
    assert "Kili project %s" % results.project_id in out
    assert "assets:    3" in out
    assert "labeled:   1" in out
    assert "alice@example.com: 1 label(s)" in out
    assert kili_emulator.api_key not in out + err

    # no key: every run of our backends
    code, out, err = run_cli(cli_env, "status", dataset.name)
    assert code == 0, out + err
    assert "run 'cli_run'" in out and "assets:    3" in out

    # the key in another config file, named with --config-path
    other = tmp_path / "other_config.json"
    other.write_text(
        json.dumps({"backends": {"kili": {"config_cls": CONFIG_CLASSES["kili"], "api_key": kili_emulator.api_key}}})
    )
    del cli_env["FIFTYONE_KILI_API_KEY"]
    code, out, err = run_cli(cli_env, "status", dataset.name, "cli_run")
    assert code == 1 and "FAIL" in out  # no key: FIFTYONE_ANNOTATION_CONFIG_PATH's file has none
    code, out, err = run_cli(cli_env, "status", dataset.name, "cli_run", "--config-path", str(other))
    assert code == 0, out + err
    assert "assets:    3" in out and kili_emulator.api_key not in out + err


def test_status_errors(kili_run, cli_env, kili_emulator):
    dataset, _ = kili_run
    write_config(cli_env, {"kili": {"config_cls": CONFIG_CLASSES["kili"], "url": kili_emulator.url}})

    code, out, err = run_cli(cli_env, "status", "no-such-dataset-xyz")
    assert code == 1
    assert "there is no dataset named 'no-such-dataset-xyz'" in err

    code, out, err = run_cli(cli_env, "status", dataset.name, "no_such_key")
    assert code == 1
    assert "has no annotation run 'no_such_key'" in err and "cli_run" in err

    # a refused key: a FAIL line with a fix, and the key is not printed
    cli_env["FIFTYONE_KILI_API_KEY"] = WRONG_KEY
    code, out, err = run_cli(cli_env, "status", dataset.name, "cli_run")
    assert code == 1
    (fail,) = [line for line in out.splitlines() if line.startswith("FAIL")]
    assert "AuthenticationError" in fail and "-- fix: export FIFTYONE_KILI_API_KEY" in fail
    assert WRONG_KEY not in out + err and kili_emulator.api_key not in out + err
