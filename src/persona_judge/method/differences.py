"""Where the paper's text, its public code and this study's default differ, as one table.

The rows are data, so chapter 02 shows them and chapter 05 can refer to the same list.
"Public code" is SALT-NLP/SynthesizeMe read at the commit pinned in
:mod:`persona_judge.method.theta` (identical to PyPI ``SynthesizeMe==0.0.11a1``);
"this study" is the default ``SynthesizeMeConfig()`` (``algorithm="faithful"``,
``variant="public"``); the last column names the setting that switches the row
(``variant="ours"`` switches every judge and Θ row at once to our earlier choices,
``algorithm="lite"`` the search rows). Each row's claim about this study is checked
against the code by ``tests/method/test_differences.py``.
"""

from __future__ import annotations

import pandas as pd

COLUMNS = ["choice", "paper (text)", "public code", "this study (default)", "setting"]

DIFFERENCES: tuple[tuple[str, str, str, str, str], ...] = (
    ("persona program Θ",
     "optimised once with DSPy MIPROv2 on PRISM",
     "the released program llama70b.json for every model: instruction + 6 worked "
     "demonstrations (~21.7k prompt tokens), reasoning before the persona",
     "the same program, fetched at run time from the pinned commit (never stored): the "
     "instruction as system message, each demonstration as a user and an assistant turn, "
     "reasoning then persona; our framing around the user's history",
     "persona_instruction (public | persona_synthesis@v1 | a .txt file); theta_program "
     "(llama70b | llama8b | llama3b | per-model)"),
    ("judge answer format and decoding",
     "not discussed",
     "free text in DSPy's field format: reasoning, then First / Second; no constrained "
     "decoding (JSON mode only as DSPy's fallback when a reply does not parse)",
     "free text: 'Reasoning: …' then 'Preference: First|Second', never constrained "
     "(our wording)",
     "answer_format (first_second | json: A/B as JSON, JSON-schema decoding where the "
     "endpoint accepts it)"),
    ("JSON-format fallback",
     "not discussed",
     "a reply the chat format cannot parse is asked again through DSPy's JSON adapter",
     "not reproduced: an unparseable reply is retried in the same format",
     "none (answer_format=json asks for JSON from the start)"),
    ("default judge",
     "an LLM judge with no user information",
     "the same chain-of-thought program as step 1: speculates 1-3 hypotheses about the "
     "user, then First / Second",
     "as the code (judge_speculative_first_second@v1)",
     "speculative_default_judge (true | false: a judge that does not speculate)"),
    ("persona placement",
     "the persona is part of the judge's prompt",
     "in the judge's system instruction",
     "appended to the system message",
     "persona_placement (system | user: before the pair in the user message)"),
    ("demo placement",
     "demonstrations are part of the judge's prompt",
     "conversation turns: each demo a user turn and an assistant answer",
     "as the code",
     "demo_placement (turns | inline: all demos in the one user message)"),
    ("demo order",
     "not discussed",
     "DSPy's order: reasoned demos in the seed's shuffled order, then labelled ones",
     "training order (equal sets give identical, cache-hitting prompts)",
     "none"),
    ("answer token cap",
     "not discussed",
     "max_tokens 8192 on every call",
     "8192 on every judge and persona call",
     "max_tokens (null = ours: 1024 per verdict, 700 per persona)"),
    ("unparseable answers",
     "ties and unparseable answers count as wrong",
     "up to 4 attempts whose temperature is 0 × (0.001 + i/4) = 0 under the default "
     "temperature 0 (and DSPy's cache returns the same reply), then 'Tie': wrong",
     "retried at the request's temperature 0 (client max_parse_retries, 2), then "
     "counted as a tie: wrong",
     "parse_retry (same_temperature | client: resample at resample_temperature, 0.7)"),
    ("step-1 trace context",
     "traces written \"without any prior user information\"",
     "the judge sees up to 4 of the user's other labelled choices (DSPy few-shot teacher)",
     "as the code",
     "trace_context (labelled | none: the paper's text)"),
    ("step-1 judge wording",
     "the judge reasons about which reply the user preferred",
     "asked to speculate 1-3 hypotheses about the user, allowed to be wrong",
     "the same idea in our own words",
     "judge_trace (a template id)"),
    ("traces per pair",
     "not specified",
     "re-traced for every candidate (each with its own shuffled labelled context)",
     "one trace per training pair, reused by every candidate of a search (cheaper, "
     "deterministic)",
     "none"),
    ("step-1 candidates",
     "n = 10 random subsets of verified reasoning",
     "labels only, all verified traces, then 10 random sets of size 1..#train",
     "labels only, full set, n random sets of size 1..#verified; labelled examples fill "
     "each to 4 demos",
     "n_candidates, max_labeled_demos; algorithm=lite: random halves"),
    ("persona input",
     "the verified reasoning of the best set",
     "the winning candidate's demos, verified reasoning and labelled examples",
     "as the code",
     "none"),
    ("no demo survives step 1",
     "not discussed",
     "prints a notice and writes the persona from an empty history",
     "persona from all labelled training pairs (fallback, recorded)",
     "none"),
    ("step-3 reasoning",
     "demos re-bootstrapped with the persona in the prompt",
     "re-bootstrapped with the persona judge: a trace per training pair per candidate",
     "one trace per training pair with the persona judge, reused by every candidate "
     "(see 'traces per pair')",
     "algorithm=lite: step-1 traces reused"),
    ("step-3 candidates",
     "m = 10 candidate demo sets",
     "persona only, labels only, all verified, then 10 random sets",
     "as the code (so the final prompt may carry no demos)",
     "m_candidates"),
    ("\"demos only\" ablation",
     "demonstrations without a persona",
     "no separate run; the structure gives step 1's search (demos chosen without a "
     "persona, judged by the speculative judge)",
     "both views: the full fit's demos without its persona, and a separate demos-only "
     "search (step 1's search with a 'no demos' candidate first; its requests repeat "
     "step 1's, so only the 'no demos' candidate costs calls)",
     "demos_only_search (true | false)"),
    ("early stop",
     "not discussed",
     "stop at the first candidate with >= 80% validation accuracy",
     "as the code",
     "stop_at_accuracy (0.8; algorithm=lite: 1.0)"),
    ("ties between candidates",
     "not discussed",
     "strictly better replaces the best: the earliest candidate wins ties",
     "as the code",
     "none"),
    ("display order",
     "not discussed",
     "the dataset's flip column (flip = chosen reply first); random if absent",
     "as the code; seeded hash if absent",
     "display_order (flip | hash)"),
    ("validation orders",
     "not discussed",
     "the fit class scores one order; the experiment loader used with the persona "
     "search scores both",
     "one order per validation pair (the fit class)",
     "validation_orders (one | both)"),
    ("search concurrency",
     "not discussed",
     "all candidates evaluated concurrently; the stop only picks among those before it",
     "all candidates in one round; the stop is applied the same way, so the winner does "
     "not depend on the batch size",
     "search_batch_size (null = all at once)"),
    ("no validation pairs",
     "not discussed",
     "refuses to fit",
     "full-set candidates taken unscored (fallback, recorded)",
     "none"),
    ("the judge model",
     "Llama 3.2 3B, Llama 3.1 8B, Llama 3.3 70B (Instruct)",
     "any LiteLLM model; the authors served their own",
     "Together's '-Turbo' endpoints by default, which Together may serve quantized "
     "(e.g. FP8): numbers can differ from full-precision weights",
     "model (any Together id or your own server's model)"),
)


def differences_table() -> pd.DataFrame:
    """The table of differences (one row per choice)."""
    return pd.DataFrame(list(DIFFERENCES), columns=COLUMNS)
