"""The main job against the emulators (``./run demo --backend kili|fastlabel``)."""

import fiftyone as fo
import pytest

from fo_annotation_backends import demo

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("backend, reviewer", [("kili", "reviewer@example.com"), ("fastlabel", "approved:")])
def test_the_demo_merges_edits_additions_and_deletions(backend, reviewer, capsys, monkeypatch):
    # the demo registers its backend in the process's annotation config
    monkeypatch.setattr(fo.annotation_config, "backends", dict(fo.annotation_config.backends))
    assert demo.main(["--backend", backend, "--samples", "8"]) == 0
    out = capsys.readouterr().out
    assert "added:   2" in out and "edited:  2" in out and "deleted: 2" in out
    assert reviewer in out
