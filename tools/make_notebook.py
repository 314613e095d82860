"""Write a chapter notebook from a list of (kind, source) cells; used once per chapter.

Usage: python tools/make_notebook.py SPEC.py OUT.ipynb, where SPEC.py defines
CELLS = [("md", "..."), ("params", "..."), ("code", "..."), ...].
Outputs are never stored in notebooks/: the runner executes them.
"""

import runpy
import sys

import nbformat

spec = runpy.run_path(sys.argv[1])
nb = nbformat.v4.new_notebook()
nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
nb.metadata["language_info"] = {"name": "python"}
for kind, source in spec["CELLS"]:
    source = source.strip("\n")
    if kind == "md":
        nb.cells.append(nbformat.v4.new_markdown_cell(source))
    else:
        cell = nbformat.v4.new_code_cell(source)
        if kind == "params":
            cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
for i, cell in enumerate(nb.cells):
    cell["id"] = f"cell-{i:02d}"
nbformat.write(nb, sys.argv[2])
