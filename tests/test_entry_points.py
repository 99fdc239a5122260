"""Finding plugins in dist-info/egg-info folders: same answers as importlib.metadata."""
from __future__ import annotations

import importlib.metadata
import sys

from grader.entry_points import entry_points


def _dist(root, folder, text):
    (root / folder).mkdir()
    (root / folder / "entry_points.txt").write_text(text)


def test_finds_loads_and_lets_the_first_copy_of_a_distribution_win(tmp_path, monkeypatch):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    (first / "fake_plugin_mod.py").write_text("value = 42\nclass K:\n    inner = 'x'\n")
    _dist(first, "fake_plugin-1.0.dist-info",
          "# comment\n[console_scripts]\nnot-me = os:getcwd\n\n[grader.plugins]\n"
          "fake = fake_plugin_mod\nattr = fake_plugin_mod:K.inner\n")
    _dist(second, "Fake_Plugin-0.9.dist-info", "[grader.plugins]\nold = nowhere\n")
    _dist(second, "other.egg-info", "[grader.plugins]\nother = fake_plugin_mod:value\n")
    monkeypatch.setattr(sys, "path", [str(first), str(second)])
    found = {ep.name: ep for ep in entry_points("grader.plugins")}
    assert set(found) == {"fake", "attr", "other"}
    assert found["fake"].load().value == 42
    assert found["attr"].load() == "x" and found["other"].load() == 42
    assert entry_points("no.such.group") == []


def test_agrees_with_importlib_metadata_on_this_interpreter():
    for group in ("console_scripts", "pytest11"):
        ours = sorted((ep.name, ep.value) for ep in entry_points(group))
        theirs = sorted({(ep.name, ep.value) for ep in importlib.metadata.entry_points(group=group)})
        assert ours == theirs and ours
