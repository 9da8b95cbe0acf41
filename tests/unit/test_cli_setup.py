"""The command line without a database: ``setup`` (merging into the
annotation config file, atomically, with a backup, keys kept out), ``plugin
install`` (link, copy, idempotent, stale, foreign) and the exit codes.

Everything happens in ``tmp_path``: ``HOME``, ``FIFTYONE_ANNOTATION_CONFIG_PATH``
and ``FIFTYONE_PLUGINS_DIR`` point there, never at the real ``~/.fiftyone``."""

import json
import os
import pathlib
import shutil
import stat
import subprocess
import sys

import pytest

from fo_annotation_backends import cli
from fo_annotation_backends.cli import CONFIG_CLASSES, PLUGIN_INSTALL_NAME, PLUGIN_MARKER, main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SECRET = "sk-unit-0123456789abcdef"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """Nothing of the real home: FiftyOne's files all point into tmp_path."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("FIFTYONE_ANNOTATION_CONFIG_PATH", str(tmp_path / "annotation_config.json"))
    monkeypatch.setenv("FIFTYONE_PLUGINS_DIR", str(tmp_path / "plugins"))
    for name in list(os.environ):
        if name.startswith(
            ("FIFTYONE_LABELSTUDIO_", "FIFTYONE_KILI_", "FIFTYONE_FASTLABEL_", "FASTLABEL_")
        ) or name in (
            "FIFTYONE_ANNOTATION_BACKENDS",
            "FIFTYONE_CONFIG_PATH",
            "FIFTYONE_DEFAULT_DATASET_DIR",
        ):
            monkeypatch.delenv(name)
    return home


@pytest.fixture
def config(tmp_path):
    return tmp_path / "annotation_config.json"


def write_json(path, data, mode=None):
    path.write_text(json.dumps(data, indent=2))
    if mode is not None:
        os.chmod(path, mode)
    return path


def read_json(path):
    return json.loads(path.read_text())


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def setup(config, *args):
    return main(["setup", "--config-path", str(config), *args])


def leftovers(directory):
    """Temporary files that an interrupted write would leave."""
    return [p.name for p in directory.iterdir() if p.name.endswith(".tmp") or ".tmp-" in p.name]


# ----------------------------------------------------------------------
# setup: merging


def test_setup_creates_the_file_with_our_three_backends(config, capsys):
    assert setup(config) == 0
    data = read_json(config)
    assert data == {"backends": {name: {"config_cls": cls} for name, cls in CONFIG_CLASSES.items()}}
    assert "default_backend" not in data
    assert not os.path.exists(str(config) + ".bak")  # nothing to back up
    out = capsys.readouterr().out
    for name in CONFIG_CLASSES:
        assert "%s: added" % name in out
        assert "FIFTYONE_%s_API_KEY" % name.upper() in out
    assert "Created %s" % config in out


def test_setup_keeps_other_backends_and_every_user_key(config):
    original = {
        "default_backend": "cvat",
        "backends": {
            "cvat": {"url": "https://cvat.example.com", "username": "me"},
            "mybackend": {"config_cls": "my.module.MyBackendConfig", "x": [1, 2]},
            "kili": {
                "config_cls": "old.KiliConfig",
                "label_selection": "latest_review",
                "url": "https://kili.example.com/graphql",
            },
            "labelstudio": {"url": "http://ls:8080", "api_key": "already-here", "upload_workers": 4},
        },
        "some_top_level_key": {"kept": True},
    }
    write_json(config, original)
    assert setup(config) == 0
    data = read_json(config)
    assert data["default_backend"] == "cvat"
    assert data["some_top_level_key"] == {"kept": True}
    assert data["backends"]["cvat"] == original["backends"]["cvat"]
    assert data["backends"]["mybackend"] == original["backends"]["mybackend"]
    assert data["backends"]["kili"] == dict(original["backends"]["kili"], config_cls=CONFIG_CLASSES["kili"])
    assert data["backends"]["labelstudio"] == dict(
        original["backends"]["labelstudio"], config_cls=CONFIG_CLASSES["labelstudio"]
    )
    assert data["backends"]["fastlabel"] == {"config_cls": CONFIG_CLASSES["fastlabel"]}


def test_setup_only_the_chosen_backends_and_their_urls(config, capsys):
    write_json(config, {"backends": {"kili": {"config_cls": CONFIG_CLASSES["kili"], "url": "http://old/graphql"}}})
    assert (
        setup(
            config,
            "--backends",
            "kili,fastlabel",
            "--url",
            "kili=http://new/graphql",
            "--url",
            "fastlabel=http://fl/v1/",
        )
        == 0
    )
    data = read_json(config)
    assert set(data["backends"]) == {"kili", "fastlabel"}
    assert data["backends"]["kili"]["url"] == "http://new/graphql"
    assert data["backends"]["fastlabel"] == {"config_cls": CONFIG_CLASSES["fastlabel"], "url": "http://fl/v1/"}
    out = capsys.readouterr().out
    assert "kili: url http://new/graphql (was http://old/graphql)" in out
    assert "fastlabel: added" in out and "labelstudio" not in out.split("Keep the API keys")[0]


def test_default_backend_is_set_only_when_asked(config):
    write_json(config, {"backends": {}})
    assert setup(config) == 0
    assert "default_backend" not in read_json(config)

    write_json(config, {"default_backend": "cvat", "backends": {}})
    assert setup(config) == 0
    assert read_json(config)["default_backend"] == "cvat"

    assert setup(config, "--default-backend", "kili") == 0
    assert read_json(config)["default_backend"] == "kili"


def test_an_unknown_default_backend_is_a_usage_error(config, capsys):
    assert setup(config, "--default-backend", "nope") == 2
    assert not config.exists()
    assert "--default-backend nope" in capsys.readouterr().err


def test_setup_reads_fiftyones_config_path_when_none_is_given(config, capsys):
    assert main(["setup", "--backends", "kili"]) == 0
    assert read_json(config)["backends"]["kili"]["config_cls"] == CONFIG_CLASSES["kili"]
    assert "export FIFTYONE_ANNOTATION_CONFIG_PATH" not in capsys.readouterr().out


def test_another_path_says_how_to_make_fiftyone_read_it(tmp_path, capsys):
    other = tmp_path / "elsewhere" / "cfg.json"
    assert setup(other, "--backends", "kili") == 0  # the directory is created
    assert other.exists()
    assert "export FIFTYONE_ANNOTATION_CONFIG_PATH=%s" % other in capsys.readouterr().out


# ----------------------------------------------------------------------
# setup: idempotence, backups, atomic writes


def test_a_second_run_changes_nothing(config, capsys):
    write_json(config, {"backends": {"cvat": {"url": "x"}}})
    assert setup(config, "--url", "labelstudio=http://localhost:8080") == 0
    backup = config.with_name(config.name + ".bak")
    first, first_stat, backup_stat = config.read_bytes(), os.stat(config), os.stat(backup)
    capsys.readouterr()

    assert setup(config, "--url", "labelstudio=http://localhost:8080") == 0
    out = capsys.readouterr().out
    assert config.read_bytes() == first
    second = os.stat(config)
    assert (second.st_ino, second.st_mtime_ns) == (first_stat.st_ino, first_stat.st_mtime_ns)  # not rewritten
    assert (os.stat(backup).st_ino, os.stat(backup).st_mtime_ns) == (backup_stat.st_ino, backup_stat.st_mtime_ns)
    assert "already up to date: nothing written" in out
    for name in CONFIG_CLASSES:
        assert "%s: already up to date" % name in out
    assert leftovers(config.parent) == []


def test_an_equivalent_file_is_not_rewritten_even_if_formatted_otherwise(config):
    content = '{"backends": {%s}}' % ", ".join('"%s": {"config_cls": "%s"}' % item for item in CONFIG_CLASSES.items())
    config.write_text(content)
    before = os.stat(config)
    assert setup(config) == 0
    assert config.read_text() == content
    assert os.stat(config).st_mtime_ns == before.st_mtime_ns
    assert not config.with_name(config.name + ".bak").exists()


def test_the_backup_holds_the_previous_file_and_is_made_only_on_change(config):
    original = write_json(config, {"backends": {"cvat": {"url": "x"}}}).read_bytes()
    backup = config.with_name(config.name + ".bak")
    assert setup(config, "--backends", "kili") == 0
    assert backup.read_bytes() == original
    after_first = config.read_bytes()

    assert setup(config, "--backends", "kili") == 0  # nothing changes: the backup stays
    assert backup.read_bytes() == original

    assert setup(config, "--backends", "fastlabel") == 0  # a change: the backup is the previous version
    assert backup.read_bytes() == after_first


def test_the_old_file_is_intact_when_the_write_fails(config, monkeypatch, capsys):
    original = write_json(config, {"backends": {"cvat": {"url": "x"}}}).read_bytes()

    def failing_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    assert setup(config) == 1
    assert config.read_bytes() == original
    assert "No space left on device" in capsys.readouterr().err
    assert leftovers(config.parent) == []


def test_the_old_file_is_intact_when_only_the_final_rename_fails(config, monkeypatch):
    original = write_json(config, {"backends": {"cvat": {"url": "x"}}}).read_bytes()
    real_replace = os.replace

    def replace(src, dst):
        if os.path.basename(str(dst)) == config.name:
            raise OSError(5, "Input/output error")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    assert setup(config) == 1
    assert config.read_bytes() == original
    assert leftovers(config.parent) == []


def test_a_symlinked_config_file_stays_a_link(tmp_path, config):
    real = tmp_path / "dotfiles" / "annotation_config.json"
    real.parent.mkdir()
    write_json(real, {"backends": {}})
    config.symlink_to(real)
    assert setup(config, "--backends", "kili") == 0
    assert config.is_symlink()
    assert read_json(real)["backends"]["kili"]["config_cls"] == CONFIG_CLASSES["kili"]


# ----------------------------------------------------------------------
# setup: keys and permissions


def test_no_key_is_written_without_the_flag(config, monkeypatch, capsys):
    monkeypatch.setenv("FIFTYONE_KILI_API_KEY", SECRET)
    monkeypatch.setenv("FIFTYONE_LABELSTUDIO_API_KEY", SECRET)
    assert setup(config, "--url", "labelstudio=http://localhost:8080") == 0
    assert SECRET not in config.read_text()
    assert "api_key" not in config.read_text()
    captured = capsys.readouterr()
    assert SECRET not in captured.out + captured.err
    assert "FIFTYONE_KILI_API_KEY=...   # Kili, set in this shell" in captured.out
    assert "FIFTYONE_FASTLABEL_API_KEY=...   # FastLabel, not set in this shell" in captured.out


def test_write_api_key_writes_it_with_a_warning_and_mode_0600(config, capsys):
    write_json(config, {"backends": {}}, mode=0o644)
    assert setup(config, "--backends", "kili", "--write-api-key", "kili=" + SECRET) == 0
    assert read_json(config)["backends"]["kili"]["api_key"] == SECRET
    assert mode_of(config) == 0o600
    captured = capsys.readouterr()
    assert SECRET not in captured.out + captured.err
    assert "warning" in captured.err and "FIFTYONE_KILI_API_KEY" in captured.err and "recommended" in captured.err
    assert "kili: added (config_cls %s, API key written)" % CONFIG_CLASSES["kili"] in captured.out
    assert setup(config, "--backends", "kili", "--write-api-key", "kili=" + SECRET + "-new") == 0
    assert "kili: API key written" in capsys.readouterr().out


def test_a_new_file_with_a_key_is_0600(config):
    assert setup(config, "--backends", "fastlabel", "--write-api-key", "fastlabel=" + SECRET) == 0
    assert mode_of(config) == 0o600


def test_permissions_are_kept(config):
    write_json(config, {"backends": {}}, mode=0o640)
    assert setup(config) == 0
    assert mode_of(config) == 0o640
    assert mode_of(str(config) + ".bak") == 0o640


def test_a_file_that_already_holds_a_key_becomes_0600_when_rewritten(config):
    write_json(config, {"backends": {"labelstudio": {"api_key": SECRET}}}, mode=0o644)
    assert setup(config) == 0
    assert mode_of(config) == 0o600
    assert read_json(config)["backends"]["labelstudio"]["api_key"] == SECRET  # a user key: untouched


def test_the_backup_of_a_file_with_a_key_is_private_too(config):
    write_json(config, {"backends": {"kili": {"api_key": SECRET}}}, mode=0o644)
    assert setup(config, "--backends", "kili") == 0
    assert mode_of(str(config) + ".bak") == 0o600
    assert mode_of(config) == 0o600


def test_a_new_file_without_a_key_follows_the_umask(config):
    old = os.umask(0o027)
    try:
        assert setup(config) == 0
    finally:
        os.umask(old)
    assert mode_of(config) == 0o640


# ----------------------------------------------------------------------
# setup: refusals and dry runs


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"backends": {', "is not valid JSON"),
        ("[1, 2]", "not an object"),
        ('{"backends": [1]}', '"backends"'),
        ('{"backends": {"kili": "x"}}', 'backend "kili"'),
        (b"\xff\xfe{}", "is not valid JSON"),
    ],
)
def test_a_file_that_is_not_a_valid_config_is_refused(config, content, message, capsys):
    if isinstance(content, bytes):
        config.write_bytes(content)
    else:
        config.write_text(content)
    before = config.read_bytes()
    assert setup(config) == 1
    assert config.read_bytes() == before
    assert not config.with_name(config.name + ".bak").exists()
    err = capsys.readouterr().err
    assert message in err and "nothing was changed" in err
    assert leftovers(config.parent) == []


def test_dry_run_writes_nothing(config, capsys):
    assert setup(config, "--dry-run") == 0
    assert not config.exists()
    assert "would create" in capsys.readouterr().out

    original = write_json(config, {"backends": {"cvat": {"url": "x"}}}).read_bytes()
    assert setup(config, "--dry-run", "--default-backend", "kili", "--write-api-key", "kili=" + SECRET) == 0
    assert config.read_bytes() == original
    assert not config.with_name(config.name + ".bak").exists()
    captured = capsys.readouterr()
    assert SECRET not in captured.out + captured.err
    assert "would write" in captured.out and "nothing written" in captured.out
    shown = captured.out.split("(nothing written):\n", 1)[1].split("\nKeep the API keys")[0]
    preview = json.loads(shown)
    assert preview["default_backend"] == "kili"
    assert preview["backends"]["kili"]["api_key"] == "***"
    assert preview["backends"]["cvat"] == {"url": "x"}


@pytest.mark.parametrize(
    "args",
    [
        ["--backends", "kili,cvat"],
        ["--backends", ""],
        ["--url", "kili"],
        ["--url", "kili=ftp://x"],
        ["--backends", "kili", "--url", "fastlabel=http://x/v1/"],
        ["--url", "kili=http://a", "--url", "kili=http://b"],
        ["--write-api-key", "nope=" + SECRET],
        ["--bogus"],
    ],
)
def test_bad_arguments_are_usage_errors(config, args, capsys):
    assert setup(config, *args) == 2
    assert not config.exists()
    captured = capsys.readouterr()
    assert "usage:" in captured.err
    assert SECRET not in captured.out + captured.err


def test_setup_warns_when_fiftyone_annotation_backends_hides_them(config, monkeypatch, capsys):
    monkeypatch.setenv("FIFTYONE_ANNOTATION_BACKENDS", "*,kili")
    assert setup(config) == 0
    err = capsys.readouterr().err
    assert "hides fastlabel" in err and "FIFTYONE_ANNOTATION_BACKENDS=*,fastlabel,kili" in err


# ----------------------------------------------------------------------
# plugin install


def make_plugin_source(folder, name="@fo-annotation-backends/annotation", extra=None):
    folder.mkdir(parents=True)
    (folder / "fiftyone.yml").write_text('name: "%s"\nversion: 0.1.0\n' % name)
    (folder / "__init__.py").write_text("def register(p):\n    pass\n")
    for rel, text in (extra or {}).items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    return folder


def test_plugin_install_links_the_checkout_into_fiftyone_plugins_dir(tmp_path, capsys):
    plugins = tmp_path / "plugins"
    assert main(["plugin", "install"]) == 0  # FIFTYONE_PLUGINS_DIR
    dest = plugins / PLUGIN_INSTALL_NAME
    assert dest.is_symlink()
    assert os.path.realpath(dest) == cli.find_plugin_source()
    assert (dest / "fiftyone.yml").is_file()
    assert "installed" in capsys.readouterr().out

    link = os.lstat(dest)
    assert main(["plugin", "install"]) == 0
    assert "already up to date" in capsys.readouterr().out
    again = os.lstat(dest)
    assert (again.st_ino, again.st_mtime_ns) == (link.st_ino, link.st_mtime_ns)


def test_plugin_install_into_another_dir(tmp_path, capsys):
    other = tmp_path / "other" / "plugins"
    assert main(["plugin", "install", "--dir", str(other)]) == 0
    assert (other / PLUGIN_INSTALL_NAME / "fiftyone.yml").is_file()
    assert "export FIFTYONE_PLUGINS_DIR=%s" % other in capsys.readouterr().out
    assert not (tmp_path / "plugins").exists()


def test_the_default_plugins_dir_is_under_home(monkeypatch, isolated_home):
    monkeypatch.delenv("FIFTYONE_PLUGINS_DIR")
    assert cli.fiftyone_plugins_dir() == str(isolated_home / "fiftyone" / "__plugins__")
    monkeypatch.setenv("FIFTYONE_DEFAULT_DATASET_DIR", str(isolated_home / "data"))
    assert cli.fiftyone_plugins_dir() == str(isolated_home / "data" / "__plugins__")


def test_the_plugins_dir_of_fiftyones_config_file(monkeypatch, isolated_home):
    monkeypatch.delenv("FIFTYONE_PLUGINS_DIR")
    (isolated_home / ".fiftyone").mkdir()
    (isolated_home / ".fiftyone" / "config.json").write_text(json.dumps({"plugins_dir": "~/my-plugins"}))
    assert cli.fiftyone_plugins_dir() == str(isolated_home / "my-plugins")


def test_a_stale_link_is_replaced(tmp_path, capsys):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    dest = plugins / PLUGIN_INSTALL_NAME
    dest.symlink_to(tmp_path / "gone")  # dangling
    assert main(["plugin", "install"]) == 0
    assert os.path.realpath(dest) == cli.find_plugin_source()
    assert "replaced a link to %s" % (tmp_path / "gone") in capsys.readouterr().out
    assert leftovers(plugins) == []


def test_a_foreign_directory_is_refused(tmp_path, capsys):
    dest = tmp_path / "plugins" / PLUGIN_INSTALL_NAME
    dest.mkdir(parents=True)
    (dest / "mine.txt").write_text("user data")
    for args in (["plugin", "install"], ["plugin", "install", "--copy"]):
        assert main(args) == 1
        assert (dest / "mine.txt").read_text() == "user data"
        assert not dest.is_symlink()
        err = capsys.readouterr().err
        assert "was not installed by this command" in err and "--dir" in err


def test_a_foreign_file_is_refused(tmp_path, capsys):
    dest = tmp_path / "plugins" / PLUGIN_INSTALL_NAME
    dest.parent.mkdir()
    dest.write_text("x")
    assert main(["plugin", "install"]) == 1
    assert dest.read_text() == "x"


def _manifest_of_the_checkout():
    import yaml

    with open(os.path.join(ROOT, "fiftyone.yml")) as f:
        return yaml.safe_load(f)


def test_copy_of_a_checkout_takes_the_plugin_files_only(tmp_path, capsys):
    dest = tmp_path / "plugins" / PLUGIN_INSTALL_NAME
    assert main(["plugin", "install", "--copy"]) == 0
    assert dest.is_dir() and not dest.is_symlink()
    names = sorted(p.name for p in dest.iterdir())
    assert "fiftyone.yml" in names and PLUGIN_MARKER in names
    for not_plugin in ("pyproject.toml", "README.md", "tests", ".venv", ".cache", ".git", "bench"):
        assert not_plugin not in names
    assert (dest / "fiftyone.yml").read_bytes() == open(os.path.join(ROOT, "fiftyone.yml"), "rb").read()
    py_entry = _manifest_of_the_checkout().get("py_entry") or "__init__.py"
    if os.path.isfile(os.path.join(ROOT, py_entry)):  # the entry, and the plugin code next to it
        assert (dest / py_entry).read_bytes() == open(os.path.join(ROOT, py_entry), "rb").read()
        if os.path.dirname(py_entry):
            assert sorted(os.listdir(dest / os.path.dirname(py_entry))) == sorted(
                n
                for n in os.listdir(os.path.join(ROOT, os.path.dirname(py_entry)))
                if n != "__pycache__" and not n.startswith(".")
            )
    assert not list(dest.rglob("__pycache__"))
    capsys.readouterr()

    before = os.stat(dest / "fiftyone.yml")
    assert main(["plugin", "install", "--copy"]) == 0
    assert "already up to date" in capsys.readouterr().out
    assert os.stat(dest / "fiftyone.yml").st_ino == before.st_ino


def test_a_checkout_copy_takes_a_nested_py_entry_with_its_folder(tmp_path):
    source = make_plugin_source(
        tmp_path / "repo", extra={"pyproject.toml": "", "README.md": "", "pkg/plugin/ops.py": "", "pkg/other.py": ""}
    )
    (source / "pkg" / "plugin" / "__init__.py").write_text("def register(p):\n    pass\n")
    (source / "fiftyone.yml").write_text(
        'name: "@fo-annotation-backends/annotation"\npy_entry: pkg/plugin/__init__.py\n'
    )
    os.remove(source / "__init__.py")
    what, dest = cli.install_plugin(str(tmp_path / "plugins"), str(source), copy_files=True)
    assert what == "installed"
    copied = sorted(str(p.relative_to(dest)) for p in pathlib.Path(dest).rglob("*") if p.is_file())
    assert copied == sorted([PLUGIN_MARKER, "fiftyone.yml", "pkg/plugin/__init__.py", "pkg/plugin/ops.py"])


def test_copy_and_link_replace_each_other(tmp_path):
    dest = tmp_path / "plugins" / PLUGIN_INSTALL_NAME
    assert main(["plugin", "install"]) == 0
    assert dest.is_symlink()
    assert main(["plugin", "install", "--copy"]) == 0
    assert dest.is_dir() and not dest.is_symlink()
    assert main(["plugin", "install"]) == 0
    assert dest.is_symlink()
    assert leftovers(dest.parent) == []
    assert [p.name for p in dest.parent.iterdir()] == [PLUGIN_INSTALL_NAME]


def test_a_dedicated_plugin_folder_is_copied_whole_and_a_stale_copy_replaced(tmp_path):
    source = make_plugin_source(
        tmp_path / "src" / "plugin", extra={"assets/icon.svg": "<svg/>", "__pycache__/x.pyc": "junk"}
    )
    plugins = tmp_path / "plugins"
    what, dest = cli.install_plugin(str(plugins), str(source), copy_files=True)
    assert what == "installed"
    assert sorted(os.listdir(dest)) == sorted(
        [".fo-annotation-backends-install.json", "__init__.py", "assets", "fiftyone.yml"]
    )
    assert cli.install_plugin(str(plugins), str(source), copy_files=True)[0] == "up to date"

    (source / "__init__.py").write_text("def register(p):\n    p.x = 1\n")  # the package was upgraded
    what, dest = cli.install_plugin(str(plugins), str(source), copy_files=True)
    assert what.startswith("replaced a copy")
    assert open(os.path.join(dest, "__init__.py")).read() == "def register(p):\n    p.x = 1\n"

    os.remove(source / "assets" / "icon.svg")  # a file gone from the source goes from the copy
    cli.install_plugin(str(plugins), str(source), copy_files=True)
    assert not os.path.exists(os.path.join(dest, "assets", "icon.svg"))


def test_the_plugin_source_is_found_where_a_package_ships_it(tmp_path):
    site = tmp_path / "site-packages"
    package = site / "fo_annotation_backends"
    package.mkdir(parents=True)
    with pytest.raises(cli.CliError, match="could not find the plugin"):
        cli.find_plugin_source(str(package), dist_files=[], prefixes=[str(tmp_path / "prefix")])

    # a foreign manifest next to the package does not count
    (site / "fiftyone.yml").write_text("name: '@someone/else'\n")
    with pytest.raises(cli.CliError):
        cli.find_plugin_source(str(package), dist_files=[], prefixes=[str(tmp_path / "prefix")])

    shared = make_plugin_source(tmp_path / "prefix" / "share" / "fo-annotation-backends")
    assert cli.find_plugin_source(str(package), dist_files=[], prefixes=[str(tmp_path / "prefix")]) == str(shared)

    listed = make_plugin_source(tmp_path / "anywhere" / "annotation_plugin")
    found = cli.find_plugin_source(str(package), dist_files=[str(listed / "fiftyone.yml")], prefixes=[])
    assert found == str(listed)

    inside = make_plugin_source(package / "plugin")
    assert cli.find_plugin_source(str(package), dist_files=[], prefixes=[str(tmp_path / "prefix")]) == str(inside)


def test_the_checkouts_plugin_source_is_found(tmp_path):
    found = cli.find_plugin_source()
    # the repository, or a plugin folder inside the package if it has one
    assert found == os.path.realpath(ROOT) or found.startswith(
        os.path.join(os.path.realpath(ROOT), "fo_annotation_backends")
    )
    assert cli._is_our_plugin_dir(found)


def test_fiftyone_finds_the_linked_plugin(tmp_path):
    import fiftyone.plugins.core as fopc

    assert main(["plugin", "install"]) == 0
    manifests = list(fopc._iter_plugin_metadata_files(str(tmp_path / "plugins")))
    assert manifests == [str(tmp_path / "plugins" / PLUGIN_INSTALL_NAME / "fiftyone.yml")]


LOAD_PLUGIN = """
import json
import fiftyone.plugins.context as fopx
import fiftyone.plugins.core as fopc
plugin = [p for p in fopc._list_plugins(enabled="all") if p.name.startswith("@fo-annotation-backends/")][0]
context = fopx.PluginContext(fopc._load_plugin_definition(plugin))
context.register_all()
print(json.dumps({"path": plugin.path, "instances": sorted(type(i).__name__ for i in context.instances),
                  "errors": [str(e)[:300] for e in context.errors]}))
"""


def test_fiftyone_loads_the_plugin_the_same_from_a_link_and_a_copy(tmp_path):
    """FiftyOne itself (in a subprocess: this tier never connects to the
    database) lists the installed plugin and registers its operators."""
    loaded = {}
    for mode in ("link", "copy"):
        assert main(["plugin", "install"] + (["--copy"] if mode == "copy" else [])) == 0
        env = dict(os.environ, PYTHONPATH=ROOT)
        done = subprocess.run([sys.executable, "-c", LOAD_PLUGIN], capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        loaded[mode] = json.loads(done.stdout.strip().splitlines()[-1])
        assert loaded[mode]["path"] == str(tmp_path / "plugins" / PLUGIN_INSTALL_NAME)
        assert loaded[mode]["errors"] == []
    assert loaded["copy"]["instances"] == loaded["link"]["instances"]
    manifest = _manifest_of_the_checkout()
    assert len(loaded["link"]["instances"]) == len(manifest.get("operators") or []) + len(manifest.get("panels") or [])


# ----------------------------------------------------------------------
# exit codes and entry points


@pytest.mark.parametrize(
    "argv, code",
    [
        ([], 2),
        (["frobnicate"], 2),
        (["plugin"], 2),
        (["plugin", "remove"], 2),
        (["status"], 2),
        (["doctor", "--timeout", "soon"], 2),
        (["--help"], 0),
        (["setup", "--help"], 0),
        (["plugin", "install", "--help"], 0),
        (["doctor", "--help"], 0),
        (["status", "--help"], 0),
        (["--version"], 0),
    ],
)
def test_exit_codes(argv, code, capsys):
    assert main(argv) == code


def test_help_explains_the_commands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("setup", "plugin", "doctor", "status", "exit codes"):
        assert command in out


def _env(tmp_path):
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT
    return env


def test_python_m_help(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "fo_annotation_backends", "--help"],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "usage: fo-annotation-backends" in done.stdout and "setup" in done.stdout


def test_python_m_setup_in_a_subprocess(tmp_path, config):
    env = _env(tmp_path)
    run = [sys.executable, "-m", "fo_annotation_backends", "setup", "--backends", "kili"]
    done = subprocess.run(run, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (
        read_json(config)["backends"]["kili"]["config_cls"] == CONFIG_CLASSES["kili"]
    )  # FIFTYONE_ANNOTATION_CONFIG_PATH
    done = subprocess.run(run, capture_output=True, text=True, env=env, timeout=120)
    assert "already up to date" in done.stdout

    config.write_text("{oops")
    done = subprocess.run(run, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 1 and "not valid JSON" in done.stderr
    done = subprocess.run(run + ["--url", "nope"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2


def test_the_console_script(tmp_path):
    script = shutil.which("fo-annotation-backends", path=os.path.dirname(sys.executable))
    if script is None:
        pytest.skip("the console script is not installed (pip install -e .)")
    done = subprocess.run([script, "--help"], capture_output=True, text=True, env=_env(tmp_path), timeout=120)
    assert done.returncode == 0, done.stderr
    assert "usage: fo-annotation-backends" in done.stdout
