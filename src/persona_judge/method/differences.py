"""Where the paper's text, its public code and this study's default differ, as one table.

The rows are data, so chapter 02 shows them and chapter 05 (and the issue notes)
can refer to the same list. "Public code" is SALT-NLP/SynthesizeMe read at the
commit pinned in :mod:`persona_judge.method.theta`; "ours" is the default
``SynthesizeMeConfig()`` (``algorithm="faithful"``), with the setting that
changes it. The cheaper earlier variant is ``algorithm="lite"``.
"""

from __future__ import annotations

import pandas as pd

DIFFERENCES: tuple[tuple[str, str, str, str], ...] = (
    ("step-1 trace context",
     "traces written \"without any prior user information\"",
     "the judge sees up to 4 of the user's other labelled choices (DSPy few-shot teacher)",
     "as the code; trace_context='none' gives the paper's text"),
    ("step-1 judge wording",
     "the judge reasons about which reply the user preferred",
     "asked to speculate 1-3 hypotheses about the user, allowed to be wrong",
     "the same idea in our own words (judge_speculative@v1)"),
    ("traces per pair",
     "not specified",
     "re-traced for every candidate (each with its own shuffled labelled context)",
     "one trace per training pair, reused by every candidate (cheaper, deterministic)"),
    ("step-1 candidates",
     "n = 10 random subsets of verified reasoning",
     "labels only, all verified traces, then 10 random sets of size 1..#train",
     "labels only, full set, n random sets of size 1..#verified; labelled examples fill "
     "each to 4 demos"),
    ("persona input",
     "the verified reasoning of the best set",
     "the winning candidate's demos, verified reasoning and labelled examples",
     "as the code"),
    ("no demo survives step 1",
     "not discussed",
     "prints a notice and writes the persona from an empty history",
     "persona from all labelled training pairs (fallback, recorded)"),
    ("persona instruction Θ",
     "optimised once with DSPy MIPROv2 on PRISM",
     "the optimised program llama70b.json",
     "our own Θ (persona_synthesis@v1); persona_instruction='public' fetches the code's"),
    ("step-3 reasoning",
     "demos re-bootstrapped with the persona in the prompt",
     "re-bootstrapped with the persona judge (with labelled context)",
     "as the code: one call per training pair"),
    ("step-3 candidates",
     "m = 10 candidate demo sets",
     "persona only, labels only, all verified, then 10 random sets",
     "as the code (so the final prompt may carry no demos)"),
    ("early stop",
     "not discussed",
     "stop at the first candidate with >= 80% validation accuracy",
     "as the code (stop_at_accuracy=0.8); lite: stop at 100%"),
    ("ties",
     "not discussed",
     "strictly better replaces the best: the earliest candidate wins ties",
     "as the code"),
    ("display order",
     "not discussed",
     "the dataset's flip column (flip = chosen reply first); random if absent",
     "as the code; seeded hash if absent"),
    ("validation orders",
     "not discussed",
     "the experiment loader judges validation pairs in both orders; the fit class in one",
     "one order per validation pair (the fit class)"),
    ("unparseable answers",
     "ties and unparseable answers count as wrong",
     "retried up to 4 times at rising temperature, then a tie",
     "resampled (client setting max_parse_retries), then no choice: counted wrong"),
    ("search concurrency",
     "not discussed",
     "all candidates evaluated concurrently; the stop only picks among those before it",
     "all candidates in one round (search_batch_size=None); the stop is applied the same "
     "way, so the winner does not depend on the batch size"),
    ("no validation pairs",
     "not discussed",
     "refuses to fit",
     "full-set candidates taken unscored (fallback, recorded)"),
)


def differences_table() -> pd.DataFrame:
    """The table of differences (one row per choice)."""
    return pd.DataFrame(list(DIFFERENCES),
                        columns=["choice", "paper (text)", "public code", "this study (default)"])
