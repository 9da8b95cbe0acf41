"""The main job against the Kili emulator (``./run demo --backend kili``)."""

import pytest

from fo_annotation_backends import demo

pytestmark = pytest.mark.integration


def test_the_kili_demo_merges_edits_additions_and_deletions(capsys):
    assert demo.main(["--backend", "kili", "--samples", "8"]) == 0
    out = capsys.readouterr().out
    assert "added:   2" in out and "edited:  2" in out and "deleted: 2" in out
    assert "reviewer@example.com" in out
