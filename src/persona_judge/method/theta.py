"""The persona instruction Θ released with the paper's public code, fetched at run time.

The paper optimised its persona-synthesis instruction Θ once with DSPy MIPROv2;
the public code (SALT-NLP/SynthesizeMe) ships the result as a saved DSPy program,
``synthesizeme/prompts/llama70b.json``. This study never stores that text: with
``persona_instruction="public"`` the file is downloaded from the pinned URL below
(a fixed commit, so the text cannot change under a run), once, into
``<data folder>/reference/synthesizeme-theta/<commit>/``, and read from there
afterwards. The instruction is taken from the program's ``synthesize`` predictor
(``signature.instructions``); the saved program's few-shot demos, if any, are not
used. It is wrapped in our own input/output framing (the same examples as our
Θ, and a request for the persona paragraph only), written as a template file
next to the download, whose id ``persona_synthesis_public@<commit>`` enters the
cache key and the artifact.

``PERSONA_JUDGE_THETA_URL`` replaces the URL (tests point it at a local server;
a mirror works too). A failed download, or a file without the instruction, raises
:class:`ThetaFetchError` naming the URL and what to do.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from persona_judge import paths
from persona_judge.errors import PersonaJudgeError

PUBLIC_THETA = "public"
PUBLIC_REPO = "SALT-NLP/SynthesizeMe"
PUBLIC_COMMIT = "58ff7443e3947328ec29cf75b85dbb3eefe9f0bd"
PUBLIC_PATH = "synthesizeme/prompts/llama70b.json"
PUBLIC_URL = f"https://raw.githubusercontent.com/{PUBLIC_REPO}/{PUBLIC_COMMIT}/{PUBLIC_PATH}"
URL_ENV = "PERSONA_JUDGE_THETA_URL"

# Our framing around the fetched instruction: the examples are rendered exactly as for
# our own Θ, so the two instructions are compared on the same evidence.
_WRAPPER = """=== system ===
@INSTRUCTION@
=== user ===
Past judgements of one user. For each: the conversation, the reply the user picked,
the reply they passed over and, where available, reasoning about why (each piece of
reasoning was checked against the user's real choice).

$examples
Write the synthesized persona of this user as one paragraph, and nothing else.
=== example ===
### Judgement $index
Conversation:
$conversation

Reply they picked (called Reply $chosen_letter in the reasoning):
$chosen

Reply they passed over (called Reply $rejected_letter in the reasoning):
$rejected

Why they picked it: $reasoning
"""


class ThetaFetchError(PersonaJudgeError):
    """The public persona instruction could not be fetched or read."""


def theta_url() -> str:
    return os.environ.get(URL_ENV) or PUBLIC_URL


def theta_dir() -> Path:
    return paths.data_dir() / "reference" / "synthesizeme-theta" / PUBLIC_COMMIT[:12]


def extract_instruction(program: Mapping[str, Any], source: str) -> str:
    """The persona-synthesis instruction of a saved DSPy program (``synthesize`` predictor)."""
    for name, entry in program.items():
        if not (isinstance(entry, Mapping) and name.split(".")[0] == "synthesize"):
            continue
        signature = entry.get("signature")
        text = signature.get("instructions") if isinstance(signature, Mapping) else None
        if isinstance(text, str) and text.strip():
            return text.strip()
    raise ThetaFetchError(
        f"{source} has no 'synthesize' predictor with signature instructions; is it the "
        f"SynthesizeMe persona program ({PUBLIC_PATH})? Delete it to fetch it again.")


def fetch_public_program(url: str | None = None, *, timeout: float = 30.0) -> Path:
    """The saved public program on disk, downloading it on first use."""
    url = url or theta_url()
    target = theta_dir() / "llama70b.json"
    if target.is_file():
        return target
    try:
        response = httpx.get(url, timeout=timeout, follow_redirects=True)
        response.raise_for_status()
        json.loads(response.text)
    except (httpx.HTTPError, ValueError) as exc:
        raise ThetaFetchError(
            f"Could not fetch the public persona instruction from {url} ({exc}). It is "
            f"downloaded at run time and never stored in this repository; check the network, "
            f"set {URL_ENV} to a reachable copy, or use persona_instruction="
            f"'persona_synthesis@v1' (ours).") from None
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".part")
    tmp.write_text(response.text, encoding="utf-8")
    tmp.replace(target)  # never leave half a file behind
    return target


def public_theta_template(url: str | None = None) -> Path:
    """A template file (our framing + the public instruction) for ``persona_instruction``."""
    program_path = fetch_public_program(url)
    try:
        program = json.loads(program_path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ThetaFetchError(f"{program_path} is not valid JSON ({exc}); delete it to fetch "
                              "it again.") from None
    if not isinstance(program, Mapping):
        raise ThetaFetchError(f"{program_path} is not a saved DSPy program (a JSON object).")
    instruction = extract_instruction(program, str(program_path))
    digest = hashlib.sha256(instruction.encode()).hexdigest()[:8]
    path = theta_dir() / f"persona_synthesis_public@{PUBLIC_COMMIT[:7]}-{digest}.txt"
    if not path.is_file():
        # A literal dollar sign in the instruction must not read as a placeholder.
        text = _WRAPPER.replace("@INSTRUCTION@", instruction.replace("$", "$$"))
        path.write_text(text, encoding="utf-8")
    return path


def resolve_instruction(instruction: str) -> str:
    """``"public"`` → the fetched template's path; anything else unchanged."""
    return str(public_theta_template()) if instruction == PUBLIC_THETA else instruction
