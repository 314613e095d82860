"""The prompted baselines SynthesizeMe is compared with, each on the ``PreferenceMethod`` interface.

* :mod:`~persona_judge.baselines.memory` -- **Memory**: the user's train + validation choices
  (conversation, chosen reply, turned-down reply), no reasoning, no persona;
* :mod:`~persona_judge.baselines.demographics` -- **Demographics** (PRISM): the user's survey
  profile, none of their preference pairs;
* :mod:`~persona_judge.baselines.random_demos` -- **Random demos**: SynthesizeMe's persona with
  as many randomly drawn labelled examples as its searched demo set (does the search matter?);
* :mod:`~persona_judge.baselines.recorded` -- the **recorded judges**: the five LLM judges'
  verdicts published with the benchmark, scored with our protocol at zero cost.

The default judge lives with the method (:class:`persona_judge.method.judge.DefaultJudgeMethod`);
the ablations are views of one SynthesizeMe fit (``artifact.with_components``). Every prompt
is a versioned template in ``persona_judge/prompts`` written in our own words. Chapter 05
runs them all through :func:`persona_judge.evaluation.main_results.run_main_results`.
"""

from persona_judge.baselines.demographics import DemographicsMethod
from persona_judge.baselines.memory import MemoryMethod
from persona_judge.baselines.random_demos import RandomDemosMethod
from persona_judge.baselines.recorded import RECORDED_JUDGES, recorded_judgments

__all__ = ["RECORDED_JUDGES", "DemographicsMethod", "MemoryMethod", "RandomDemosMethod",
           "recorded_judgments"]
