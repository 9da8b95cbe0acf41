"""The main job (``./run demo --backend NAME``) for every service of the
registry: against the emulators it starts in-process, and against the
session's Label Studio server through ``--url``/``--api-key``."""

import fiftyone as fo
import pytest

from fo_annotation_backends import demo, registry

pytestmark = pytest.mark.integration

#: what the service's demo people leave visible in the printed status
REVIEW_MARKS = {
    "labelstudio": "Label Studio project",
    "kili": "reviewer@example.com",
    "fastlabel": "approved:",
    "picsellia": "REFUSED:",
}


@pytest.mark.parametrize("service", registry.SERVICES, ids=lambda s: s.name)
def test_the_demo_merges_edits_additions_and_deletions(service, request, capsys, monkeypatch):
    # the demo registers its backend in the process's annotation config
    monkeypatch.setattr(fo.annotation_config, "backends", dict(fo.annotation_config.backends))
    argv = ["--backend", service.name, "--samples", "8"]
    if service.name == "labelstudio":
        # the session's server: the demo's own would migrate a fresh database
        server = request.getfixturevalue("ls_server")
        argv += ["--url", server.url, "--api-key", server.legacy_token]
    assert demo.main(argv) == 0
    out = capsys.readouterr().out
    assert "added:   2" in out and "edited:  2" in out and "deleted: 2" in out, out
    assert REVIEW_MARKS[service.name] in out, out


def test_the_demo_refuses_a_url_without_a_key(capsys):
    with pytest.raises(SystemExit) as info:
        demo.main(["--url", "http://127.0.0.1:9"])
    assert info.value.code == 2
    assert "--url and --api-key go together" in capsys.readouterr().err
