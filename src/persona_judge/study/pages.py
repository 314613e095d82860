"""Turning an executed chapter into a book page: plumbing out of sight, the rerun command on top.

After papermill has executed a chapter, :func:`finish_page` edits the executed copy (never
the source) so that it reads as a chapter:

* the ``parameters`` cell (the defaults) and papermill's ``injected-parameters`` cell are
  removed from the page (``remove-cell``): the rerun box lists every value that ran;
* the chapter's first code cell after the parameters (its imports and banner) shows only
  its output (``hide-input``), so the run's banner sits above every other code cell;
* a "Rerun this chapter" box with the exact commands that produced the page follows the
  chapter's opening prose;
* a grid cell's page gets the cell's values after its title (``# Main results: prism,
  Llama-3.3-70B-Instruct-Turbo``), so the grid's pages are told apart in the table of
  contents;
* notebook-level ipywidgets state is dropped, so the page never asks a CDN for scripts.

:func:`placeholder_page` writes the page of a chapter that did not run: its prose, why it
did not run, and "not run" for every value the other pages glue from it.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

NOT_RUN = "not run"
# A glue role from another page (`{glue:text}`executed/<page>.ipynb::<key>:s``) and the
# glue directive's form (```{glue} <key>`` with ``:doc: executed/<page>.ipynb``).
_GLUE_REF = re.compile(r"executed/(?P<page>[\w./-]+?)\.ipynb::(?P<key>[\w-]+)")
_GLUE_DIRECTIVE = re.compile(
    r"\{glue(?::\w+)?\}\s+(?P<key>[\w-]+)\s*\n:doc:\s*executed/(?P<page>[\w./-]+?)\.ipynb")


def _tag(cell: Any, *tags: str) -> None:
    existing = list(cell.metadata.get("tags", []))
    cell.metadata["tags"] = existing + [t for t in tags if t not in existing]


def _yaml_inline(value: Any) -> str:
    import yaml

    text = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    return text.removesuffix("...").strip()  # the end marker YAML adds after a bare scalar


def runner_command(chapter: str, overrides: Mapping[str, Any]) -> str:
    """The ``persona-judge run`` command that reruns one chapter with these overrides."""
    parts = ["persona-judge", "run", "--only", chapter]
    for key, value in overrides.items():
        parts += ["-p", f"{key}={_yaml_inline(value)}"]
    return shlex.join(parts)


def papermill_command(chapter: str, parameters: Mapping[str, Any]) -> str:
    """The ``papermill`` command that executes the chapter's source with exactly these values."""
    lines = [f"papermill notebooks/{chapter}.ipynb {chapter}.out.ipynb"]
    for key, value in parameters.items():
        if isinstance(value, Mapping | list | tuple):
            lines.append(f"-y {shlex.quote(f'{key}: {_yaml_inline(value)}')}")
        elif value is None:
            lines.append(f"-p {key} None")
        else:
            lines.append(f"-p {key} {shlex.quote(str(value))}")
    return " \\\n    ".join(lines)


def rerun_box(chapter: str, overrides: Mapping[str, Any], parameters: Mapping[str, Any]) -> str:
    """A folded admonition with the two commands that reproduce this page."""
    return (
        "````{admonition} Rerun this chapter\n:class: tip dropdown\n"
        "From the repository root, after `make setup` (settings from `study.yaml`, book "
        "rebuilt):\n\n"
        f"```bash\n.venv/bin/{runner_command(chapter, overrides)}\n```\n\n"
        "or the notebook alone with papermill, with every value this page ran with:\n\n"
        f"```bash\n.venv/bin/{papermill_command(chapter, parameters)}\n```\n"
        "````"
    )


def cell_title(title: str, cell: Mapping[str, Any]) -> str:
    """``"Main results: prism, Llama-3.3-70B-Instruct-Turbo"`` (values, a model id's last part)."""
    values = ", ".join(str(v).rsplit("/", 1)[-1] for v in cell.values())
    return f"{title}: {values}" if values else title


def finish_page(path: Path, chapter: str, overrides: Mapping[str, Any],
                parameters: Mapping[str, Any], cell: Mapping[str, Any] | None = None,
                label_suffix: str = "") -> None:
    """Tag plumbing cells, add the rerun box and drop widget state in an executed notebook;
    a grid ``cell``'s values go after the page's title, and ``label_suffix`` after every
    figure label (``mystnb.figure.name``), so the grid's pages do not share labels."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    heading = next((c for c in nb.cells if c.cell_type == "markdown"), None)
    if cell and heading is not None and heading.source.startswith("# "):
        first, _, rest = heading.source.partition("\n")
        heading.source = cell_title(first, cell) + ("\n" + rest if rest else "")
    if label_suffix:
        for code in nb.cells:
            figure = code.metadata.get("mystnb", {}).get("figure", {})
            if figure.get("name"):
                figure["name"] = f"{figure['name']}-{label_suffix}"
    nb.metadata.pop("widgets", None)
    first_code_after_params = None
    seen_params = False
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if cell.cell_type != "code":
            continue
        if "parameters" in tags:
            _tag(cell, "remove-cell")
            seen_params = True
        elif "injected-parameters" in tags:
            _tag(cell, "remove-cell")
        elif seen_params and first_code_after_params is None:
            first_code_after_params = cell
    if first_code_after_params is not None:
        _tag(first_code_after_params, "hide-input")
    box = nbformat.v4.new_markdown_cell(rerun_box(chapter, overrides, parameters))
    box.id = "rerun-this-chapter"
    nb.cells = [c for c in nb.cells if c.get("id") != "rerun-this-chapter"]
    first_md = next((i for i, c in enumerate(nb.cells) if c.cell_type == "markdown"), -1)
    nb.cells.insert(first_md + 1, box)
    nbformat.write(nb, path)


def glue_keys_wanted(book_dir: Path, page: str) -> list[str]:
    """Keys that the book's prose pages glue from ``executed/<page>.ipynb``."""
    keys: list[str] = []
    for md in sorted(book_dir.glob("*.md")):
        text = md.read_text(encoding="utf-8")
        for match in [*_GLUE_REF.finditer(text), *_GLUE_DIRECTIVE.finditer(text)]:
            if match["page"] == page and match["key"] not in keys:
                keys.append(match["key"])
    return keys


def _glue_output(key: str, text: str) -> Any:
    import nbformat

    # The form myst_nb.glue writes: display data tagged with the key in "scrapbook" metadata.
    return nbformat.v4.new_output(
        "display_data", data={"text/plain": repr(text), "text/markdown": text},
        metadata={"scrapbook": {"name": key, "mime_prefix": ""}})


def placeholder_page(source: Path, target: Path, why: str,
                     glue_keys: Sequence[str] = ()) -> None:
    """Write a page for a chapter that did not run: its prose, why, and "not run" glue values."""
    import nbformat

    nb = nbformat.read(source, as_version=4)
    note = nbformat.v4.new_markdown_cell(
        "```{admonition} Not executed in this run\n:class: warning\n" + why + "\n```")
    title = nb.cells[0] if nb.cells and nb.cells[0].cell_type == "markdown" else None
    cells = ([title] if title else []) + [note] + [
        c for c in nb.cells[1 if title else 0:] if c.cell_type == "markdown"]
    if glue_keys:
        glue = nbformat.v4.new_code_cell(
            "# values glued for the book's other pages", metadata={"tags": ["remove-cell"]})
        glue.outputs = [_glue_output(k, NOT_RUN) for k in glue_keys]
        cells.append(glue)
    for i, cell in enumerate(cells):
        cell["id"] = f"placeholder-{i}"
    nb.cells = cells
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)
