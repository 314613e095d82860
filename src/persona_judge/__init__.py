"""persona_judge: a reproducible study of SynthesizeMe (Ryan et al., ACL 2025).

Folders follow the paper: ``data`` (PersonalRewardBench, raw sources, a person's
own preferences), ``llm`` (the one cached client that talks to models),
``method`` (judge, bootstrap reasoning, persona, demonstrations), ``evaluation``
(accuracy, confidence intervals, paired tests) and ``study`` (papermill runner,
book build, notebook helpers).
"""

__version__ = "0.1.0"
