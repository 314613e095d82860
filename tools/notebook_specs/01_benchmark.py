CELLS = [
("md", """
# PersonalRewardBench: the users and their preferences

SynthesizeMe is evaluated on **PersonalRewardBench**: 854 users, 131 from Chatbot Arena and
723 from PRISM, each with a small set of pairwise preferences (a conversation context, the
response the user chose and the one they rejected) divided into the user's own train,
validation and test splits. The benchmark was built by three filters: enough preferences
per user, an LLM check that the query and response pair leave room for personal taste, and
a consensus filter that drops pairs where five LLM judges agree one response is simply
better.

This chapter loads the published datasets and shows what a user looks like: how many
preferences they have per split, how long contexts and responses are, and which kinds of
conversation they come from.
"""),
("params", """
dataset = "all"       # "chatbot_arena", "prism", or "all"
mode = "real"         # "real": Hugging Face Hub; "smoke": generated fixture data
max_users = None      # all users, or an integer: that many, drawn with the seed
seed = 0
"""),
("code", """
import pandas as pd
from IPython.display import Markdown, display

from persona_judge.data import BENCHMARKS
from persona_judge.data.describe import length_table, overview, plot_benchmark, preference_table
from persona_judge.study.notebook import load_users, sample_users, show_mode_banner

show_mode_banner(mode)
datasets = list(BENCHMARKS) if dataset == "all" else [dataset]
"""),
("md", """
## Users and splits

Each dataset is loaded once (from the local copy of the Hub repository, downloaded on first
use) and validated row by row. The table sets our counts beside the paper's: with the full
published data the "users in the loaded dataset" row should read 131 and 723.
"""),
("code", """
everyone = {name: load_users(name, mode) for name in datasets}
users = {name: sample_users(everyone[name], max_users, seed) for name in datasets}
display(pd.concat(
    [overview(name, users[name], sampled_from=len(everyone[name])) for name in datasets],
    axis=1, keys=datasets))
"""),
("md", """
## What a user's preferences look like

Left: how many preferences each user has, stacked by split. The method learns from the
train split, chooses among candidates on the validation split, and is scored on the test
split. Middle: chosen and rejected response lengths (a judge that simply prefers longer
answers would be a poor personal judge). Right: the kinds of conversation.
"""),
("code", """
for name in datasets:
    smoke = " — SMOKE RUN on synthetic fixtures" if mode == "smoke" else ""
    fig = plot_benchmark(users[name], title=BENCHMARKS[name] + smoke)
"""),
("code", """
display(pd.concat(
    [length_table(preference_table(users[name])) for name in datasets], keys=datasets))
"""),
("md", """
## One preference, as the judge will see it

The first training preference of the first user shown: the conversation context, then the
response this user chose and the one they rejected.
"""),
("code", """
example = users[datasets[0]][0].train[0]
turns = "\\n\\n".join(f"**{t.role}:** {t.content}" for t in example.context)
display(Markdown(
    f"*user* `{example.user_id}` · *conversation* `{example.conversation_id}` · "
    f"*type* {example.type or '(none)'}\\n\\n{turns}\\n\\n"
    f"**chosen:** {example.chosen.content}\\n\\n**rejected:** {example.rejected.content}"))
"""),
]
