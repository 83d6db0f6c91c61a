"""The docs say what is true now: facts they list that the code owns."""

from __future__ import annotations

import re
from pathlib import Path

from datavsmath.sweeps.validation import shipped_specs

ROOT = Path(__file__).resolve().parents[1]


def test_the_shipped_spec_table_lists_every_shipped_spec():
    text = (ROOT / "docs" / "specs.md").read_text()
    listed = set(re.findall(r"^\| `([a-z_0-9]+)` \|", text, flags=re.M))
    assert set(shipped_specs()) <= listed, sorted(set(shipped_specs()) - listed)


def test_the_reference_page_lists_every_public_name():
    """docs/hooks.py builds the API reference from `datavsmath.__all__`: each name is documented
    where it is defined."""
    import importlib.util
    import sys

    import datavsmath

    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    hooks = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("docs_hooks", hooks)
    spec.loader.exec_module(hooks)
    page = hooks.reference_page()
    for name in datavsmath.__all__:
        obj = getattr(datavsmath, name)
        assert f"::: {obj.__module__}.{obj.__qualname__}\n" in page, name
