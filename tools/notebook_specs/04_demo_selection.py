CELLS = [
("md", """
# Step 3: demonstration selection

With the persona in the judge's prompt, the method searches for the few **demonstrations**
(earlier choices of the user) that help the judge most. It draws `m_candidates` seeded demo
sets from the user's training pairs (the paper uses m = 10), scores each on the validation
pairs with *persona + demos* in the prompt, and keeps the best. The final personalized prompt
is the persona plus the chosen demos.

Choices where the paper is open (all parameters of `SynthesizeMeConfig`):

* a demo set has `demo_set_size` pairs, by default half the training pairs rounded up;
* a demo shows the pair in the order its step-1 trace was generated in, the user's real choice,
  and the verified reasoning when there is one (pairs whose trace did not verify appear with the
  choice only); we do not re-generate reasoning with the persona in the prompt, which would cost
  one more call per training pair;
* scoring, tie-breaking (earliest candidate) and skipping are the same as in step 1.
"""),
("params", """
dataset = "chatbot_arena"
mode = "real"
model = "meta-llama/Llama-3.3-70B-Instruct-Turbo"
max_users = 20
show_users = 3
seed = 0
n_candidates = 10
m_candidates = 10   # m: candidate demo sets (paper: 10)
"""),
("code", """
import pandas as pd
from IPython.display import Markdown, display

from persona_judge.evaluation.figures import plot_candidate_scores
from persona_judge.method.synthesizeme import SynthesizeMeConfig, fit_user
from persona_judge.method.tables import candidates_table, demo_candidates_table, spend_table
from persona_judge.study.notebook import load_users, open_llm, show_mode_banner

show_mode_banner(mode, needs_llm=True)
users = load_users(dataset, mode, max_users, seed)[:show_users]
client = open_llm(mode, model, progress=False)
config = SynthesizeMeConfig(n_candidates=n_candidates, m_candidates=m_candidates, seed=seed)
artifacts = {u.user_id: fit_user(u, client, config) for u in users}
"""),
("md", """
## Validation score of every candidate

Each point is a scored candidate; the star marks the winner of each search. Step 1 (bootstrap
reasoning, no persona) is shown beside step 3 (persona + demos) for the same users.
"""),
("code", """
step1 = pd.concat([candidates_table(a.bootstrap_candidates, a.bootstrap_winner, user_id=u,
                                    search="bootstrap reasoning") for u, a in artifacts.items()])
demos = demo_candidates_table(artifacts)
smoke = mode == "smoke"
fig = plot_candidate_scores(pd.concat([step1, demos], ignore_index=True), smoke=smoke,
                            title="Validation accuracy per candidate" + (" (SMOKE RUN)" if smoke else ""))
display(demos)
"""),
("md", """
## The chosen demonstrations

For each user, the winning demo set: which training pairs, in which order they are shown, and
whether a verified reasoning trace comes with them.
"""),
("code", """
rows = [{"user_id": u, "pair": d.preference.conversation_id, "query": d.preference.query[:70],
         "shown": d.order, "answer": d.answer, "with reasoning": d.reasoning is not None}
        for u, a in artifacts.items() for d in a.demo_set]
display(pd.DataFrame(rows))
"""),
("md", """
## The final judge prompt of one user

This is what the personalized judge sees for a new pair (placeholders mark where the pair goes).
"""),
("code", """
first = next(iter(artifacts.values()))
display(Markdown(f"```text\\n{first.judge_prompt_text()}\\n```"))
"""),
("md", """
## What the fits cost

Requests and tokens per user and step, as recorded in each artifact (a cache hit reports the
tokens of the call that first produced it), then the client's own account of this chapter.
"""),
("code", """
display(spend_table(artifacts).pivot_table(index="user_id", columns="step", values="requests",
                                            aggfunc="sum"))
print(("SMOKE RUN (scripted stand-in): " if smoke else "") + client.summary())
"""),
]
