CELLS = [
("md", """
# Main results: SynthesizeMe against the default judge

Every selected user is fitted (steps 1–3 on their train and validation pairs), and each method
then judges every **test** pair of every user **in both orders** (the user's chosen reply shown
first, then second). A judgment is correct only if it picks the chosen reply; a tie, an
unparseable answer or a failed call counts as wrong. Accuracy is the mean over all judgments.

Three methods are compared on exactly the same judgments:

* **default judge**: no information about the user;
* **SynthesizeMe (persona + demos)**: the full method;
* **SynthesizeMe (persona only)**: the same fitted persona without the demos (the paper's
  "just personas" ablation; no refit, so it costs only its test judgments).

The paper's numbers for Chatbot Arena with Llama 3.3 70B as the judge are shown beside ours.
"""),
("params", """
dataset = "chatbot_arena"
mode = "real"
model = "meta-llama/Llama-3.3-70B-Instruct-Turbo"
max_users = 20
seed = 0
n_candidates = 10
m_candidates = 10
ci_unit = "pair"        # what the bootstrap resamples: "pair", "user" or "judgment"
n_resamples = 10000
max_workers = 4         # users fitted at once (LLM calls in flight are capped by the client)
"""),
("code", """
from IPython.display import Markdown, display

from persona_judge import paths
from persona_judge.evaluation.figures import plot_main_results
from persona_judge.evaluation.main_results import run_main_results
from persona_judge.evaluation.report import (PAPER_CHATBOT_ARENA_70B, beside_paper,
                                             compare_methods, per_user_accuracy, pooled_accuracy)
from persona_judge.method.synthesizeme import SynthesizeMeConfig
from persona_judge.study.notebook import load_users, open_llm, show_mode_banner

show_mode_banner(mode, needs_llm=True)
smoke = mode == "smoke"
users = load_users(dataset, mode, max_users, seed)
client = open_llm(mode, model, progress=False)
config = SynthesizeMeConfig(n_candidates=n_candidates, m_candidates=m_candidates, seed=seed)
display(Markdown(f"{len(users)} users, {sum(len(u.test) for u in users)} test pairs, "
                 f"so {2 * sum(len(u.test) for u in users)} judgments per method."))
"""),
("code", """
# A smoke run fits one user at a time: the fixture users share some conversations, and
# fitting them concurrently would make the printed cache-hit counts vary from run to run.
results = run_main_results(users, client, config, max_workers=1 if smoke else max_workers)
saved = results.save(paths.runs_dir() / f"main_results-{mode}-{dataset}-seed{seed}")
"""),
("md", """
## Pooled accuracy with 95% confidence intervals

Confidence intervals are percentile bootstraps over the judgments already made (no new calls),
seeded with `seed`. By default they resample **test pairs** (`ci_unit = "pair"`): the two
orders of one pair share their content and stay together. `ci_unit = "user"` resamples whole
users instead (wider: it also reflects which users were sampled); `"judgment"` treats every
judgment as independent (narrowest).
"""),
("code", """
stats_args = dict(unit=ci_unit, n_resamples=n_resamples, seed=seed)
pooled = pooled_accuracy(results.judgments, **stats_args)
per_user = per_user_accuracy(results.judgments, **stats_args)
display(beside_paper(pooled, dataset, model, smoke=smoke).round(2))
"""),
("code", """
fig = plot_main_results(pooled, per_user, PAPER_CHATBOT_ARENA_70B, smoke=smoke,
                        title=f"{dataset}, {model}" + (" (SMOKE RUN)" if smoke else ""))
"""),
("md", """
## Is the difference real?

Each comparison is paired: both methods judged the same pairs in the same orders. The
difference in accuracy gets a paired bootstrap CI (same resampling unit as above), and
McNemar's test counts the judgments only one of the two methods got right (exact binomial
form below 25 such judgments). McNemar treats judgments as independent, so with both orders
of a pair counted it is somewhat optimistic; the paired-bootstrap CI by pair is the safer guide.
"""),
("code", """
import pandas as pd

full, persona_only, default = pooled["method"].tolist()
comparisons = pd.DataFrame([compare_methods(results.judgments, a, b, **stats_args)
                            for a, b in ((full, default), (persona_only, default),
                                         (full, persona_only))])
display(comparisons.round(4))
"""),
("md", """
## Per user

Each user's accuracy over their own test judgments, with a CI resampling their pairs. With a
handful of test pairs per user these intervals are wide; the pooled numbers are the result.
"""),
("code", """
display(per_user.pivot_table(index="user_id", columns="method", values="accuracy").round(1))
"""),
("md", """
## What the run cost

Calls that reached the endpoint, cache hits, tokens and dollars, per stage (read off the
client). A rerun with a warm cache makes no calls at all.
"""),
("code", """
display(results.spend)
print(("SMOKE RUN (scripted stand-in): " if smoke else "") + client.summary())
print(f"Artifacts and judgments saved in {saved.name}/ under the data folder's runs/.")
"""),
]
