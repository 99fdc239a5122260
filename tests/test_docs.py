"""Every hook is documented: a docstring in grader/hookspecs.py and a section in the README's plugin author guide."""
from __future__ import annotations

import inspect
import re

import pytest

from conftest import ROOT
from grader import hookspecs

HOOKS = sorted(name for name, value in vars(hookspecs).items()
               if name.startswith("grader_") and inspect.isfunction(value))
README = (ROOT / "README.md").read_text()
PLUGIN_DOC = README[README.index("## Plugin author guide"):README.index("## Isolation guarantees")]


def test_there_are_hooks_to_document():
    assert {"grader_register_kinds", "grader_compare", "grader_diagnose"} <= set(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_a_docstring(hook):
    doc = inspect.getdoc(getattr(hookspecs, hook)) or ""
    assert len(doc.split()) >= 10, f"{hook} needs a docstring: when it is called and what it returns"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented_in_the_plugin_guide(hook):
    signature = f"{hook}({', '.join(inspect.signature(getattr(hookspecs, hook)).parameters)})"
    assert f"**`{signature}`**" in PLUGIN_DOC, f"the plugin author guide lacks a section for {signature}"


def test_the_guide_names_no_hook_that_does_not_exist():
    named = set(re.findall(r"\bgrader_[a-z_]+(?=\()", PLUGIN_DOC))
    assert named <= set(HOOKS), named - set(HOOKS)


def test_instructor_guide_covers_the_toolkit():
    text = README[README.index("## Instructor guide"):README.index("## The expression language")]
    for topic in ("grader validate", "grader new", "grader schema", "tolerance", "variants: true",
                  "visibility", "model:", "mutants:", "yaml-language-server"):
        assert topic in text, topic
