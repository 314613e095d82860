"""Turning an executed chapter into a book page: plumbing out of sight, the rerun command on top.

After papermill has executed a chapter, :func:`finish_page` edits the executed copy (never
the source) so that it reads as a chapter:

* the ``parameters`` cell (the defaults) and papermill's ``injected-parameters`` cell are
  removed from the page (``remove-cell``): the rerun box lists every value that ran;
* the chapter's first code cell after the parameters (its imports and banner) shows only
  its output (``hide-input``), so the run's banner sits above every other code cell;
* a "Rerun this chapter" box with the exact commands that produced the page follows the
  chapter's opening prose;
* the title gets the chapter's number, read from the notebook's file name (``05_main_results``
  is chapter 5; its grid pages are 5.1, 5.2, ...): the one numbering of the book, used by the
  sidebar, the titles and the prose, so a new chapter ``10_...`` is chapter 10 with no other
  change (the table of contents itself is not numbered by Sphinx);
* a grid cell's page gets the cell's values after its title (``# 5.3 Main results: prism,
  Llama 3.3 70B``), so the grid's pages are told apart in the table of contents;
* a line under the title names the run the page comes from (mode, time, settings), so a
  book whose pages come from several runs shows it on every page;
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
# What a page's reader never needs inline: the LLM client's run log and the results folder.
# These printed lines move into one folded "Run details" box at the end of the page, with
# addresses of local servers (a smoke run's stand-in, a user's own server) written out.
_RUN_LOG = re.compile(r"^(?:SMOKE RUN\b[^\n]*?[).:]\s+)?(?:LLM run|DRY RUN)\b|"
                      r"^Results saved in ", re.MULTILINE)
_LOCAL_URL = re.compile(r"https?://(?:127\.\d+\.\d+\.\d+|localhost|0\.0\.0\.0|\[::1\])"
                        r"(?::\d+)?(?:/\S*)?")


def without_local_urls(text: str) -> str:
    """``... server at http://127.0.0.1:39391 (no key sent)`` → ``... server on this machine``."""
    text = re.sub(r"\bat\s+" + _LOCAL_URL.pattern, "on this machine", text)
    return _LOCAL_URL.sub("a server on this machine", text)


def fold_run_logs(nb: Any) -> str:
    """Take the run-log lines out of every code cell's printed output; return them."""
    logs: list[str] = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and _RUN_LOG.search(output.get("text", "")):
                lines = output["text"].splitlines()
                log = [line for line in lines if _RUN_LOG.match(line)]
                rest = [line for line in lines if not _RUN_LOG.match(line)]
                logs += [without_local_urls(line) for line in log]
                if any(line.strip() for line in rest):
                    output["text"] = "\n".join(rest) + "\n"
                    kept.append(output)
                continue
            kept.append(output)
        cell["outputs"] = kept
    return "\n".join(logs)


def run_details_cell(logs: str) -> Any:
    import nbformat

    body = ("What the run's LLM clients did (calls, cache hits, retries, tokens, cost) and "
            f"where its results were saved.\n\n```text\n{logs}\n```")
    cell = nbformat.v4.new_markdown_cell(
        f"````{{dropdown}} Run details\n:color: secondary\n:icon: info\n\n{body}\n````")
    cell.id = "run-details"
    return cell
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


def chapter_number(name: str) -> str:
    """``"05_main_results"`` → ``"5"``; a name without a numeric prefix has no number."""
    prefix = name.split("_", 1)[0]
    return str(int(prefix)) if prefix.isdigit() else ""


def numbered_title(heading: str, number: str) -> str:
    """``"# Main results"`` → ``"# 5.1 Main results"`` (a chapter: ``"# 5. Main results"``)."""
    if not number or not heading.startswith("# "):
        return heading
    text = re.sub(r"^\d+(\.\d+)*\.?\s+", "", heading[2:])  # never number twice
    return f"# {number}{'' if '.' in number else '.'} {text}"


def provenance_cell(line: str) -> Any:
    import nbformat

    cell = nbformat.v4.new_markdown_cell(f"```{{div}} run-provenance\n{line}\n```")
    cell.id = "run-provenance"
    return cell


def cell_title(title: str, cell: Mapping[str, Any]) -> str:
    """``"Main results: PRISM, Llama 3.3 70B"`` (the cell's values as a reader names them)."""
    from persona_judge.study.display import reader_name

    values = ", ".join(reader_name(v) for v in cell.values())
    return f"{title}: {values}" if values else title


_TABLE_ID = re.compile(r'<table id="T_([a-z0-9-]+)"')
_REFERENCE = re.compile(r"(\{numref\}`(?:[^`<]*<)?)((?:fig|tbl)-[a-z0-9-]+)(>?`)")


def suffix_labels(nb: Any, suffix: str) -> None:
    """Give a grid page's figures and tables labels of their own (``fig-x`` → ``fig-x-01``,
    table ``T_x`` → ``T_x-01``, hence ``tbl-x-01`` in the book) and point the page's own
    references (``{numref}`tbl-x```) at them, so the grid's pages share no label."""
    labels: set[str] = set()
    for code in nb.cells:
        figure = code.metadata.get("mystnb", {}).get("figure", {})
        if figure.get("name"):
            labels.add(figure["name"])
            figure["name"] = f"{figure['name']}-{suffix}"
        for output in code.get("outputs", []):
            page = output.get("data", {}).get("text/html")
            if not page:
                continue
            text = "".join(page) if isinstance(page, list) else page
            for name in set(_TABLE_ID.findall(text)):
                labels.add(f"tbl-{name}")
                # the table's id, its cells' ids and its style rules, all prefixed T_<name>
                text = re.sub(rf"\bT_{re.escape(name)}(?=[_\"\s.:#])", f"T_{name}-{suffix}", text)
            output["data"]["text/html"] = text
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = _REFERENCE.sub(
                lambda m: m[1] + (f"{m[2]}-{suffix}" if m[2] in labels else m[2]) + m[3],
                cell.source)


def finish_page(path: Path, chapter: str, overrides: Mapping[str, Any],
                parameters: Mapping[str, Any], cell: Mapping[str, Any] | None = None,
                label_suffix: str = "", provenance: str = "", number: str = "") -> None:
    """Tag plumbing cells, add the rerun box and drop widget state in an executed notebook;
    a grid ``cell``'s values go after the page's title, and ``label_suffix`` after every
    figure label (``mystnb.figure.name``), so the grid's pages do not share labels. The
    title gets the chapter's number (``number`` is a grid page's place within its chapter),
    and ``provenance`` (a sentence naming the run) goes under it."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    heading = next((c for c in nb.cells if c.cell_type == "markdown"), None)
    if heading is not None and heading.source.startswith("# "):
        first, _, rest = heading.source.partition("\n")
        if cell and not first.endswith(cell_title("", cell)):
            first = cell_title(first, cell)
        full = chapter_number(chapter)
        full += f".{number}" if full and number else ""
        heading.source = numbered_title(first, full) + ("\n" + rest if rest else "")
    if label_suffix:
        suffix_labels(nb, label_suffix)
    nb.metadata.pop("widgets", None)
    logs = fold_run_logs(nb)
    if logs:
        nb.cells = [c for c in nb.cells if c.get("id") != "run-details"]
        nb.cells.append(run_details_cell(logs))
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
    nb.cells = [c for c in nb.cells if c.get("id") not in ("rerun-this-chapter",
                                                           "run-provenance")]
    first_md = next((i for i, c in enumerate(nb.cells) if c.cell_type == "markdown"), -1)
    nb.cells.insert(first_md + 1, box)
    if provenance:
        # the title is followed by its own lines; the run's line goes right under the title
        heading_cell = nb.cells[first_md] if first_md >= 0 else None
        if heading_cell is not None and heading_cell.source.startswith("# "):
            first, _, rest = heading_cell.source.partition("\n")
            heading_cell.source = first
            if rest.strip():
                body = nbformat.v4.new_markdown_cell(rest.lstrip("\n"))
                body.id = "chapter-opening"
                nb.cells.insert(first_md + 1, body)
            nb.cells.insert(first_md + 1, provenance_cell(provenance))
        else:
            nb.cells.insert(first_md + 1, provenance_cell(provenance))
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
                     glue_keys: Sequence[str] = (), provenance: str = "") -> None:
    """Write a page for a chapter that did not run: its prose, why, and "not run" glue values
    (and, given ``provenance``, the line naming the run that did not execute it)."""
    import nbformat

    nb = nbformat.read(source, as_version=4)
    number = chapter_number(source.stem)
    place = target.stem.split("--", 1)[0]
    if number and target.parent.name != "executed" and place.isdigit():
        number += f".{int(place)}"
    if nb.cells and nb.cells[0].cell_type == "markdown":
        nb.cells[0].source = numbered_title(nb.cells[0].source, number)
    note = nbformat.v4.new_markdown_cell(
        "```{admonition} Not executed in this run\n:class: warning\n" + why + "\n```")
    title = nb.cells[0] if nb.cells and nb.cells[0].cell_type == "markdown" else None
    if provenance:
        note.source = note.source.removesuffix("\n```") + f"\n\n{provenance}\n```"
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
