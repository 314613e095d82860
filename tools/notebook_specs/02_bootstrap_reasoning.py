CELLS = [
("md", """
# Step 1: bootstrap reasoning

SynthesizeMe starts with no knowledge of the user. A **default judge** (an LLM asked which of
two replies this person preferred, with nothing but the conversation to go on) reasons step by
step about each of the user's *training* preferences. Its reasoning is kept only when its
prediction matches the reply the user really chose: **self-verification**. Reasoning that
reached the wrong answer says nothing reliable about this user and is discarded.

The verified traces are then put to the test. The method draws `n_candidates` seeded subsets of
the training pairs (the paper uses n = 10); each candidate shows the verified traces of its
pairs to a personalized judge as worked examples, and is scored on the user's *validation*
pairs. The best candidate's traces go on to step 2, where they are turned into a persona.

This chapter runs step 1 on a few users and shows which traces were kept, which were discarded,
and how each candidate scored.
"""),
("params", """
dataset = "chatbot_arena"   # "chatbot_arena" or "prism"
mode = "real"               # "real": Hub data + your LLM endpoint; "smoke": fixtures + stand-in
model = "meta-llama/Llama-3.3-70B-Instruct-Turbo"
max_users = 20              # the study's user sample (the same users as the main results)
show_users = 3              # how many of them this chapter walks through
seed = 0
n_candidates = 10           # n: candidate subsets (paper: 10)
"""),
("code", """
from IPython.display import Markdown, display

from persona_judge.method.synthesizeme import SynthesizeMeConfig, bootstrap_step
from persona_judge.method.tables import bootstrap_candidates_table, traces_table
from persona_judge.study.notebook import load_users, open_llm, show_mode_banner

show_mode_banner(mode, needs_llm=True)
users = load_users(dataset, mode, max_users, seed)[:show_users]
client = open_llm(mode, model, progress=False)
config = SynthesizeMeConfig(n_candidates=n_candidates, seed=seed)
display(Markdown(f"{len(users)} users: " + ", ".join(
    f"`{u.user_id}` ({len(u.train)} train / {len(u.val)} val)" for u in users)))
"""),
("md", """
## Design choices where the paper is open

* **Order.** Each training and validation pair is shown to the judge once, with the chosen
  reply first or second as drawn from the seed for that pair; all candidates of a user are
  scored on the same prompts, so their scores are comparable. (Test pairs, in chapter 05, are
  judged in both orders.)
* **Candidates.** Candidate 0 holds *all* training pairs; candidates 1 … n−1 are random subsets
  of half the training pairs (rounded up). Parameters: `subset_size`, `include_full_set`.
* **Scores and ties.** A candidate's score is the number of validation pairs its judge gets
  right (a tie or an unparseable answer is wrong). The highest score wins; ties go to the
  earliest candidate, so an all-tied search keeps candidate 0, the full set.
* **Nothing twice.** Traces are generated once per training pair and reused by every candidate.
  A candidate whose verified traces equal an earlier one's is not judged again, and once a
  candidate is perfect on validation the remaining ones cannot win and are skipped.
* **No verified trace.** Every candidate then reduces to the default judge; step 2 falls back
  to writing the persona from the user's labelled training pairs (recorded in the artifact).
"""),
("code", """
results = {u.user_id: bootstrap_step(u, client, config) for u in users}
traces = traces_table(users, results)
display(traces.groupby("user_id")["kept"].value_counts().unstack(fill_value=0))
"""),
("md", """
## The traces, kept and discarded

Each row is one training pair: the order it was shown in, what the default judge predicted, the
slot holding the reply the user actually chose, and the start of the judge's reasoning. Only the
`verified` rows are ever shown to a model again.
"""),
("code", """
display(traces)
"""),
("md", """
## Each candidate's validation score

For every user: how many verified traces each candidate carried, how many validation pairs its
judge got right, and which candidate won. `same as #k` marks a candidate that would have sent
exactly the prompts of an earlier one; `skipped` marks candidates left unscored after a perfect
score.
"""),
("code", """
candidates = bootstrap_candidates_table(users, results)
display(candidates)
"""),
("code", """
summary = client.summary()
print(("SMOKE RUN (scripted stand-in): " if mode == "smoke" else "") + summary)
"""),
]
