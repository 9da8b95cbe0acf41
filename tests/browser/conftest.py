"""Browser tier: the FiftyOne App server in a subprocess (this repository as
its plugin, the project's database dir), driven in Debian's headless
Chromium by Playwright.

What it needs is installed by ``./run setup`` (``chromium`` from Debian's
packages, ``playwright`` from the ``test`` extra; Playwright's own browser
downloads are never used). When either is missing the tests fail, they do
not skip.

Screenshots and the server's log go to ``tests/browser/artifacts/<test>/``
(gitignored; the path is printed at the end of the run).
"""

import json
import os
import shutil
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
ARTIFACTS_DIR = os.path.join(HERE, "artifacts")
CHROMIUM = os.environ.get("FOAB_CHROMIUM", "/usr/bin/chromium")

# Debian's Chromium as root in a container, with this machine's closed network
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]

KILI_CONFIG_CLS = "fo_annotation_backends.kili.KiliBackendConfig"

_artifact_dirs = []


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives the FiftyOne App in headless Chromium (Playwright)")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, "report_" + report.when, report)


def pytest_terminal_summary(terminalreporter):
    for path in _artifact_dirs:
        terminalreporter.write_line("browser test artifacts (screenshots, App server log): %s" % path)


@pytest.fixture(scope="session")
def sync_playwright():
    """Playwright's sync API; a missing package is a failure, not a skip."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as error:
        pytest.fail(
            "the browser tests need the Python package playwright (the 'test' extra: ./run setup): %s" % error,
            pytrace=False,
        )
    return sync_playwright


@pytest.fixture(scope="session")
def chromium_path():
    """Debian's Chromium; a missing browser is a failure, not a skip."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            "the browser tests need Chromium at %s: ./run setup installs Debian's package 'chromium' "
            "(as root or with passwordless sudo), or: apt-get install chromium" % CHROMIUM,
            pytrace=False,
        )
    return CHROMIUM


@pytest.fixture
def artifacts(request):
    """This test's artifact folder, emptied first."""
    path = os.path.join(ARTIFACTS_DIR, request.node.name)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    _artifact_dirs.append(path)
    return path


@pytest.fixture
def isolated_home(tmp_path):
    """A HOME for the App server and the browser: FiftyOne writes
    ``~/.fiftyone/var/uid`` when the App asks for it, Chromium its crash
    reports and caches under ``~/.config`` and ``~/.cache``; none of it goes
    to the real home."""
    home = tmp_path / "home"
    home.mkdir()
    return str(home)


@pytest.fixture
def annotation_config(tmp_path, kili_emulator):
    """An annotation config file registering our Kili backend as ``kili``,
    pointed at this test's emulator (the App server reads it from
    ``FIFTYONE_ANNOTATION_CONFIG_PATH``)."""
    path = tmp_path / "annotation_config.json"
    entry = {"config_cls": KILI_CONFIG_CLS, "url": kili_emulator.url, "api_key": kili_emulator.api_key}
    path.write_text(json.dumps({"backends": {"kili": entry}}))
    return str(path)


@pytest.fixture
def plugins_dir(tmp_path):
    """A plugins dir whose only plugin is this repository (a symlink to its
    root, where ``fiftyone.yml`` is)."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    os.symlink(REPO_ROOT, str(folder / "fo-annotation-backends"))
    return str(folder)


@pytest.fixture
def app_server(tmp_path, artifacts, isolated_home, plugins_dir, annotation_config):
    """The FiftyOne App server on 127.0.0.1 (a free port), with this
    repository as its plugin and the Kili emulator registered as ``kili``.

    This process connects to the database first, so that the server joins
    the database service that this process started (two processes starting
    it at once race for the database dir)."""
    import fiftyone.core.odm as foo
    from app_server import AppServer

    foo.get_db_conn()
    env = dict(os.environ)
    for name in list(env):
        if name.startswith("FIFTYONE_") and name.endswith(("_API_KEY", "_URL")):
            del env[name]  # only the annotation config file speaks for the backends
    env.update(
        {
            "HOME": isolated_home,
            "FIFTYONE_PLUGINS_DIR": plugins_dir,
            "FIFTYONE_ANNOTATION_CONFIG_PATH": annotation_config,
            "FIFTYONE_DO_NOT_TRACK": "true",
            "FIFTYONE_SHOW_PROGRESS_BARS": "false",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.pop("FIFTYONE_CONFIG_PATH", None)
    env.pop("FIFTYONE_APP_CONFIG_PATH", None)
    for name in ("FOAB_CACHE_DIR", "FIFTYONE_DATABASE_DIR", "FIFTYONE_DATABASE_VALIDATION"):
        env[name] = os.environ[name]  # set by tests/conftest.py: the project's database, never the user's
    server = AppServer(env, os.path.join(artifacts, "app-server.log"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def page(request, sync_playwright, chromium_path, tmp_path, isolated_home, artifacts):
    """A page of headless Debian Chromium (a fresh profile in tmp_path); on
    failure, a screenshot and the page's HTML are kept as artifacts."""
    from app_ui import INIT_SCRIPT

    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    env = {
        "HOME": isolated_home,
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "XDG_CONFIG_HOME": os.path.join(isolated_home, ".config"),
        "XDG_CACHE_HOME": os.path.join(isolated_home, ".cache"),
    }
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=chromium_path,
            headless=True,
            args=CHROMIUM_ARGS,
            env=env,
            viewport={"width": 1400, "height": 900},
        )
        try:
            context.add_init_script(INIT_SCRIPT)
            context.set_default_timeout(30000)
            browser_page = context.pages[0] if context.pages else context.new_page()
            console = []
            browser_page.on("console", lambda m: console.append("%s: %s" % (m.type, m.text)))
            browser_page.on("pageerror", lambda e: console.append("pageerror: %s" % e))
            yield browser_page
            report = getattr(request.node, "report_call", None)
            if report is not None and report.failed:
                try:
                    browser_page.screenshot(path=os.path.join(artifacts, "failure.png"))
                    with open(os.path.join(artifacts, "failure.html"), "w") as f:
                        f.write(browser_page.content())
                except Exception as error:  # the page may be gone
                    sys.stderr.write("no failure screenshot: %s\n" % error)
            with open(os.path.join(artifacts, "console.log"), "w") as f:
                f.write("\n".join(console))
        finally:
            context.close()
