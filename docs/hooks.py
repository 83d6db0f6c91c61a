"""mkdocs hooks: the pages made at build time.

- `reference.md`: one section per public name of `datavsmath` (its `__all__`), rendered from
  the docstrings by mkdocstrings, so the reference lists exactly what `import datavsmath`
  offers, wherever each name is defined.
- `quickstart.ipynb`: examples/quickstart.ipynb as executed into build/docs/quickstart.ipynb
  (`make docs` executes it; the tests' notebook run writes the same file). The source notebook
  is committed without outputs, so without the executed copy the build stops with one line
  that says how to make it.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[1]
EXECUTED = ROOT / "build" / "docs" / "quickstart.ipynb"
REFERENCE_INTRO = """# API reference

Everything `import datavsmath as dvm` offers (`dvm.__all__`), from the docstrings. The
command line's options are the same keywords: [specs.md](specs.md); the narrative guide to
the Python API: [python-api.md](python-api.md).
"""


def reference_page() -> str:
    """The reference's Markdown: a mkdocstrings block for each public name, where it is defined."""
    package = importlib.import_module("datavsmath")
    kinds: dict[str, list[str]] = {"Functions": [], "Results": [], "Errors": []}
    for name in package.__all__:
        obj = getattr(package, name)
        kind = "Errors" if isinstance(obj, type) and issubclass(obj, Exception) else (
            "Results" if isinstance(obj, type) else "Functions")
        kinds[kind].append(f"::: {obj.__module__}.{obj.__qualname__}\n")
    parts = [REFERENCE_INTRO]
    for kind, blocks in kinds.items():
        if blocks:
            parts += [f"\n## {kind}\n", *blocks]
    return "\n".join(parts)


def on_files(files, config):
    if not EXECUTED.is_file():
        raise PluginError(f"{EXECUTED.relative_to(ROOT)} is missing: `make docs` executes examples/quickstart.ipynb "
                          "into it")
    files.append(File.generated(config, "quickstart.ipynb", abs_src_path=str(EXECUTED)))
    files.append(File.generated(config, "reference.md", content=reference_page()))
    return files
