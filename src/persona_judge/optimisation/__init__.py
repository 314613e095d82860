"""Prompt optimisation: the persona instruction Θ searched on training users (chapter 11)."""
