"""What the three further studies share: fitting many cells, counting spend, saving results.

A *cell* is one fit of SynthesizeMe: a user's preferences (perhaps a subset of them) and a
client (one model). :func:`fit_cells` fits many cells, a few at a time, and names the user
and the cell when one fails on an expected problem (anything else is a bug and keeps its
traceback). :class:`SpendLog` reads the client's counters before and after each stage, so a
chapter shows calls, cache hits, tokens and dollars per stage (real or dry run alike).
:func:`save_study` writes a study's judgments, spend and fitted artifacts into a results
folder (``paths.run_dir``), replacing what an earlier run of the same settings left there.
"""

from __future__ import annotations

import shutil
from collections.abc import Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from persona_judge.data.records import UserSplit
from persona_judge.evaluation.predict import fit_concurrently
from persona_judge.method.artifact import SynthesizeMeArtifact
from persona_judge.method.synthesizeme import SynthesizeMeConfig, fit_user

COUNTERS = ("calls", "cache_hits", "resamples", "failures", "prompt_tokens",
            "completion_tokens", "dollars")


def _snapshot(client: Any) -> dict[str, float]:
    stats = client.stats.to_dict()
    return {k: stats.get(k, 0) for k in COUNTERS}


class SpendLog:
    """Per-stage spend of one or more clients: ``with log.stage("fit", client): ...``."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    @contextmanager
    def stage(self, name: str, client: Any) -> Iterator[None]:
        before = _snapshot(client)
        try:
            yield
        finally:
            after = _snapshot(client)
            self.rows.append({"stage": name, "model": str(getattr(client, "model", "")),
                              **{k: after[k] - before[k] for k in COUNTERS}})

    def table(self) -> pd.DataFrame:
        """One row per stage and a total row; counts as integers, dollars as floats."""
        frame = pd.DataFrame(self.rows, columns=["stage", "model", *COUNTERS])
        total = {"stage": "total", "model": "", **frame[list(COUNTERS)].sum().to_dict()}
        frame = pd.concat([frame, pd.DataFrame([total])], ignore_index=True)
        counts = [k for k in COUNTERS if k != "dollars"]
        frame[counts] = frame[counts].astype(int)
        frame["dollars"] = frame["dollars"].astype(float)
        return frame


def fit_cells(cells: Mapping[Hashable, UserSplit], client: Any, config: SynthesizeMeConfig,
              *, max_workers: int = 4, what: str = "SynthesizeMe"
              ) -> dict[Hashable, SynthesizeMeArtifact]:
    """Fit SynthesizeMe on every cell (concurrently); ``{cell key: artifact}`` in input order.

    A cell whose fit stops on an expected problem stops the study with an error naming the
    user and the cell; the calls of cells already fitted are in the client's cache, so a rerun
    repeats none of them.
    """
    return fit_concurrently(
        {key: partial(fit_user, split, client, config) for key, split in cells.items()},
        failed=lambda key: f"Fitting {what} failed for user {cells[key].user_id!r} "
                           f"(cell {key!r})",
        max_workers=max_workers, thread_name="fit-cell")


def save_study(folder: str | Path, tables: Mapping[str, pd.DataFrame],
               artifacts: Sequence[tuple[str, SynthesizeMeArtifact]] = ()) -> Path:
    """Write ``<name>.csv`` per table and ``artifacts/<name>.json`` per fit into ``folder``.

    What an earlier run left in the folder (same settings, so the same folder) is removed
    first, so a rerun never shows a stale file.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        if old.name == "settings.json":
            continue
        if old.is_dir():
            shutil.rmtree(old)
        else:
            old.unlink()
    for name, frame in tables.items():
        frame.to_csv(folder / f"{name}.csv", index=False)
    for name, artifact in artifacts:
        artifact.save(folder / "artifacts" / f"{name}.json")
    return folder


#: The method settings every study chapter takes (study.yaml's names) and their defaults.
METHOD_SETTINGS: dict[str, Any] = {
    "algorithm": "faithful", "n_candidates": 10, "m_candidates": 10,
    "trace_context": "labelled", "variant": None, "persona_instruction": None,
    "theta_program": "llama70b", "seed": 0}


def method_config(settings: Mapping[str, Any],
                  components: Sequence[str] = ("persona", "demos")) -> SynthesizeMeConfig:
    """The SynthesizeMe configuration a chapter's settings ask for (study.yaml's names)."""
    values = {k: settings.get(k, default) for k, default in METHOD_SETTINGS.items()}
    return SynthesizeMeConfig(algorithm=str(values["algorithm"]),
                              n_candidates=int(values["n_candidates"]),
                              m_candidates=int(values["m_candidates"]),
                              trace_context=str(values["trace_context"]),
                              variant=values["variant"] or None,
                              persona_instruction=values["persona_instruction"] or None,
                              theta_program=str(values["theta_program"] or "llama70b"),
                              seed=int(values["seed"]), components=tuple(components))


def smoke_limited(settings: Mapping[str, Any]) -> dict[str, Any]:
    """``settings`` with its ``smoke_design`` values applied when the mode is smoke.

    Each study chapter declares a ``smoke_design`` parameter (a few users, a short grid) so
    that its smoke run stays within seconds while a real run keeps the real design; the
    chapter prints what the smoke run used.
    """
    out = dict(settings)
    if out.get("mode") == "smoke":
        out.update(out.get("smoke_design") or {})
    return out


def sibling_client(client: Any, model: str) -> Any:
    """A client like ``client`` (endpoint, cache, settings, dry run) for another model."""
    from persona_judge.llm import LLMClient

    return LLMClient(model, endpoint=client.endpoint, cache_path=client.cache_path,
                     cache_mode=client.cache_mode, dry_run=client.dry_run,
                     config=client.config, backend=client.backend)


def short_model(model: str) -> str:
    """``meta-llama/Llama-3.3-70B-Instruct-Turbo`` → ``Llama-3.3-70B-Instruct-Turbo``."""
    return model.rsplit("/", 1)[-1]


def signed_ci(value: float, low: float, high: float, digits: int = 1) -> str:
    """``+1.2 [−0.3, +2.7]``: a difference or slope with its interval, signs always shown
    (a value that rounds to zero reads ``+0.0``, never ``−0.0``)."""
    from persona_judge.study.display import signed

    def one(v: float) -> str:
        return signed(round(v, digits) + 0.0, digits)

    if value != value:
        return "–"
    if low != low or high != high:
        return one(value)
    return f"{one(value)} [{one(low)}, {one(high)}]"


def dry_run_twin(client: Any, model: str | None = None) -> Any:
    """A dry-run client with ``client``'s endpoint, cache and settings (for ``model``, default
    the same): it counts the calls a run would make and sends nothing."""
    from persona_judge.llm import LLMClient

    return LLMClient(model or client.model, endpoint=client.endpoint,
                     cache_path=client.cache_path, cache_mode=client.cache_mode, dry_run=True,
                     config=client.config, backend=client.backend)


def spend_for_readers(spend: pd.DataFrame, *, keep_model: bool = False) -> pd.DataFrame:
    """A spend table with readable column names (and without the model column unless asked)."""
    out = spend.copy()
    if not keep_model:
        out = out.drop(columns="model")
    else:
        out["model"] = out["model"].map(lambda m: short_model(m) if m else "")
    out.columns = [c.replace("_", " ") for c in out.columns]
    return out
