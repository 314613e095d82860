"""A small Sphinx extension for the study's book (listed in ``_config.yml``).

sphinx-thebe (loaded by Jupyter Book 1.x) registers its inline configuration script each
time Sphinx reads documents; when a build reads twice (sphinxcontrib-bibtex asks for a
second pass to resolve citations) every page declares ``const THEBE_JS_URL`` twice and the
browser reports "Identifier 'THEBE_JS_URL' has already been declared". Dropping repeated
script entries from each page's context removes the error without touching either package.
"""

from __future__ import annotations

from typing import Any


def _dedupe_scripts(app: Any, pagename: str, templatename: str, context: dict,
                    doctree: Any) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        # the second registration differs only in filename: None vs "" for an inline script
        attributes = getattr(script, "attributes", {}) or {}
        key = (getattr(script, "filename", None) or "", tuple(sorted(attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app: Any) -> dict[str, Any]:
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
