"""Further studies built on the method: how accuracy grows with preferences, whether personas
describe the real person, and whether personas carry over from one judge to another.

* :mod:`~persona_judge.analyses.scaling` — SynthesizeMe, Memory (the baseline of chapter 05,
  :mod:`persona_judge.baselines.memory`) and the default judge on nested subsets of k
  preferences per user; a logistic GEE of accuracy on k (chapter 07);
* :mod:`~persona_judge.analyses.alignment` — do PRISM personas pick out their own author's
  survey answers over another participant's, and do they imply the stated priorities
  (chapter 08);
* :mod:`~persona_judge.analyses.transfer` — personas written by one model, used by another
  judge (chapter 09);
* :mod:`~persona_judge.analyses.common` — fitting many (user, setting) cells, what each stage
  spent (read off the client), saving a study's results;
* :mod:`~persona_judge.analyses.smoke` — the scripted stand-in's answers to these prompts.

Each study module has a ``run_*`` function (what its chapter runs) and an ``estimate_*``
function that dry-runs the same calls for ``persona-judge estimate``.
"""
