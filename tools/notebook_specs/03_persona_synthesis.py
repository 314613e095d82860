CELLS = [
("md", """
# Step 2: persona synthesis

The verified reasoning traces of the winning step-1 candidate are handed to an LLM together
with a **persona-synthesis instruction Θ**, which asks for a short portrait of the user: who
they seem to be, what they want from an assistant, which qualities they reward or penalise.
In the paper Θ was optimised once with DSPy MIPROv2 on PRISM and then reused everywhere. We do
not run that optimisation: our Θ is a prompt template written for this study
(`persona_synthesis@v1`), and `persona_instruction` accepts another template id or the path of
your own `.txt` file, so an optimised Θ can be dropped in. The template id is part of the LLM
cache key and of the fitted artifact.
"""),
("params", """
dataset = "chatbot_arena"
mode = "real"
model = "meta-llama/Llama-3.3-70B-Instruct-Turbo"
max_users = 20
show_users = 3
seed = 0
n_candidates = 10
persona_instruction = "persona_synthesis@v1"   # Θ: a packaged template id or a .txt path
"""),
("code", """
from IPython.display import Markdown, display

from persona_judge.method.synthesizeme import SynthesizeMeConfig, fit_user
from persona_judge.method.tables import personas_table
from persona_judge.method.templates import load_template
from persona_judge.study.notebook import load_users, open_llm, show_mode_banner

show_mode_banner(mode, needs_llm=True)
users = load_users(dataset, mode, max_users, seed)[:show_users]
client = open_llm(mode, model, progress=False)
config = SynthesizeMeConfig(n_candidates=n_candidates, seed=seed,
                            persona_instruction=persona_instruction, components=("persona",))
"""),
("md", """
## The instruction Θ

This is the whole persona-synthesis prompt; `$examples` is replaced by the user's verified
traces, each with the conversation, the reply they picked, the one they passed over and the
verified reasoning.
"""),
("code", """
theta = load_template(persona_instruction)
display(Markdown(f"**{theta.id}**\\n\\n```text\\n{theta.section('user')}\\n```"))
"""),
("md", """
## Fallbacks

* If the winning candidate holds no verified trace (none verified, or an empty candidate won),
  the persona is written from all training pairs with the user's real choices, and reasoning
  where a verified trace exists.
* If the answer is empty or too short to be a persona, or the call fails, the request is
  retried once (temperature 0.7, a new cache entry); if that fails too, the user gets no
  persona and the judge uses demonstrations only.

Both are recorded in the artifact's `fallbacks`, shown in the table below.
"""),
("code", """
artifacts = {u.user_id: fit_user(u, client, config) for u in users}
display(personas_table(artifacts))
"""),
("md", """
## The personas in full
"""),
("code", """
label = "*(smoke run: written by a scripted stand-in, not a model)*\\n\\n" if mode == "smoke" else ""
for user_id, artifact in artifacts.items():
    display(Markdown(f"### `{user_id}`\\n\\n{label}> {artifact.persona or '(no persona)'}"))
"""),
("code", """
print(("SMOKE RUN (scripted stand-in): " if mode == "smoke" else "") + client.summary())
"""),
]
