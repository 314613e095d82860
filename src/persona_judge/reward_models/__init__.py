"""Fine-tuned reward models (chapter 10): Bradley–Terry, with SynthesizeMe personas, GPO/VPL/PAL.

* :mod:`~persona_judge.reward_models.settings` — every training choice a named setting; the
  tiny smoke model; the GPU estimate of a real run;
* :mod:`~persona_judge.reward_models.inputs` — what a reward model reads (persona or not);
* :mod:`~persona_judge.reward_models.backbone` — the Llama backbone, real or tiny, with LoRA;
* :mod:`~persona_judge.reward_models.train` — Bradley–Terry training, checkpoints, resume;
* :mod:`~persona_judge.reward_models.latent` — GPO, VPL and PAL on frozen embeddings;
* :mod:`~persona_judge.reward_models.study` — the chapter's run, judgments and estimate.

torch, transformers, peft and accelerate come with the optional extra ``[reward-models]``;
they are imported only when a model is built, so the rest of the study runs without them.
"""
