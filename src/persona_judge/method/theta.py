"""The persona-synthesis program Θ released with the paper's public code, fetched at run time.

The paper optimised its persona-synthesis prompt once with DSPy MIPROv2; the public
code (SALT-NLP/SynthesizeMe) ships the result as saved DSPy programs, one per model
size: ``synthesizeme/prompts/llama70b.json``, ``llama8b.json`` and ``llama3b.json``.
Each holds an optimised **instruction**, **6 worked demonstrations** (a full
judgement history, the reasoning about it and the persona written from it; about
21.7k prompt tokens in all for the 70B program) and the program's shape: reason
first, then write the persona. The package loads the 70B program for every model.

This study never stores that text. With ``persona_instruction="public"`` the program
named by ``theta_program`` is downloaded from the pinned URL below (a fixed commit,
so the text cannot change under a run), once, into
``<data folder>/reference/synthesizeme-theta/<commit>/``, and read from there
afterwards. :func:`public_theta_template` turns it into a Θ file in the study's
own format (see :mod:`persona_judge.method.persona` and the README): the released
instruction as ``system``, each worked demonstration as a ``shot_input`` /
``shot_output`` pair (sent as a user turn and an assistant turn, reasoning before
persona), and our own framing around the user's history, which asks for the
reasoning, then the persona. That file sits next to the download; its id
``persona_synthesis_public@<commit>-<program>-<digest>`` enters the cache key and
the artifact.

``theta_program``: ``"llama70b"`` (the package's default, for every model),
``"llama8b"``, ``"llama3b"``, or ``"per-model"`` (the program of the judge model's
size: 3B → ``llama3b``, 8B → ``llama8b``, anything else → ``llama70b``).

``PERSONA_JUDGE_THETA_URL`` replaces the download location (tests point it at a local
server; a mirror works too): a folder URL the program file names are appended to, or
the URL of one ``.json`` file, whose folder is then used. A failed download, or a
file without the program's parts, raises :class:`ThetaFetchError` naming the URL and
what to do.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from persona_judge import paths
from persona_judge.errors import PersonaJudgeError, SettingsError
from persona_judge.io import atomic_write_text

PUBLIC_THETA = "public"
PUBLIC_REPO = "SALT-NLP/SynthesizeMe"
PUBLIC_COMMIT = "58ff7443e3947328ec29cf75b85dbb3eefe9f0bd"
PUBLIC_FOLDER = f"https://raw.githubusercontent.com/{PUBLIC_REPO}/{PUBLIC_COMMIT}/" \
                "synthesizeme/prompts/"
PUBLIC_PATH = "synthesizeme/prompts/llama70b.json"
PUBLIC_URL = PUBLIC_FOLDER + "llama70b.json"
URL_ENV = "PERSONA_JUDGE_THETA_URL"

#: The released programs, and the choice of one per judge model.
PROGRAMS = ("llama70b", "llama8b", "llama3b")
PER_MODEL = "per-model"
THETA_PROGRAMS = (*PROGRAMS, PER_MODEL)
DEFAULT_PROGRAM = "llama70b"  # the package loads it for every model

# Our framing around the released instruction and the user's history. The history is
# rendered with the information, in the order, the released demonstrations show it: the
# conversation, the first and second reply, the reasoning (where verified), the choice.
_FRAMING = """=== system ===
@INSTRUCTION@

Read the past judgements, reason about them, then write the persona. Answer in two parts:
a line starting "Reasoning:" with your reasoning, then a line starting "Persona:" with the
synthesized persona.
=== user ===
Past judgements of one user:

$examples
Reason about these judgements, then write the synthesized persona of this user.
=== example ===
--- Judgement $index ---
Conversation:
$conversation

First reply:
$first

Second reply:
$second

Reasoning: $reasoning

The user preferred: $preferred_ordinal
"""
_SHOT = """=== shot_input ===
Past judgements of one user:

@PAST@
Reason about these judgements, then write the synthesized persona of this user.
=== shot_output ===
Reasoning: @REASONING@

Persona: @PERSONA@
"""


class ThetaFetchError(PersonaJudgeError):
    """The public persona-synthesis program could not be fetched or read."""


def program_for_model(theta_program: str, model: str) -> str:
    """The released program to use: ``theta_program``, or for ``"per-model"`` the model's size."""
    if theta_program in PROGRAMS:
        return theta_program
    if theta_program != PER_MODEL:
        raise SettingsError(f"theta_program must be one of {', '.join(THETA_PROGRAMS)}, "
                            f"got {theta_program!r}")
    sizes = [int(s) for s in re.findall(r"(?<![\d.])(\d+)\s*b\b", model.lower())]
    if 3 in sizes:
        return "llama3b"
    if 8 in sizes:
        return "llama8b"
    return "llama70b"


def theta_url(program: str = DEFAULT_PROGRAM) -> str:
    """Where ``program`` (``llama70b`` ...) is downloaded from."""
    base = os.environ.get(URL_ENV) or PUBLIC_FOLDER
    if base.endswith(".json"):
        base = base.rsplit("/", 1)[0] + "/"
    return base.rstrip("/") + f"/{program}.json"


def theta_dir() -> Path:
    """Where downloads are kept: one folder per pinned commit, and one per mirror URL (a
    copy from elsewhere never takes the place of the pinned download)."""
    folder = paths.data_dir() / "reference" / "synthesizeme-theta" / PUBLIC_COMMIT[:12]
    mirror = os.environ.get(URL_ENV)
    if mirror:
        folder = folder / f"mirror-{hashlib.sha256(mirror.encode()).hexdigest()[:10]}"
    return folder


def _predictor(program: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for name, entry in program.items():
        if isinstance(entry, Mapping) and name.split(".")[0] == "synthesize":
            return entry
    return None


def extract_instruction(program: Mapping[str, Any], source: str) -> str:
    """The persona-synthesis instruction of a saved DSPy program (``synthesize`` predictor)."""
    entry = _predictor(program)
    signature = entry.get("signature") if entry is not None else None
    text = signature.get("instructions") if isinstance(signature, Mapping) else None
    if isinstance(text, str) and text.strip():
        return text.strip()
    raise ThetaFetchError(
        f"{source} has no 'synthesize' predictor with signature instructions; is it the "
        f"SynthesizeMe persona program ({PUBLIC_PATH})? Delete it to fetch it again.")


def extract_demos(program: Mapping[str, Any], source: str) -> list[dict[str, str]]:
    """The program's worked demonstrations: ``past_judgements``, ``reasoning``,
    ``synthesized_persona`` each (in the program's order)."""
    entry = _predictor(program) or {}
    demos = entry.get("demos", [])
    if not isinstance(demos, list):
        raise ThetaFetchError(f"{source}: the 'synthesize' predictor's demos are not a list; "
                              "delete the file to fetch it again.")
    out = []
    for i, demo in enumerate(demos):
        fields = ("past_judgements", "reasoning", "synthesized_persona")
        if not isinstance(demo, Mapping) or not all(isinstance(demo.get(f), str) for f in fields):
            raise ThetaFetchError(
                f"{source}: worked demonstration {i + 1} lacks one of {', '.join(fields)}; "
                "delete the file to fetch it again.")
        out.append({f: str(demo[f]) for f in fields})
    return out


def fetch_public_program(url: str | None = None, *, program: str = DEFAULT_PROGRAM,
                         timeout: float = 30.0) -> Path:
    """The saved public program on disk, downloading it on first use."""
    if program not in PROGRAMS:
        raise SettingsError(f"the released programs are {', '.join(PROGRAMS)}, got {program!r}")
    url = url or theta_url(program)
    target = theta_dir() / f"{program}.json"
    if target.is_file():
        return target
    try:
        response = httpx.get(url, timeout=timeout, follow_redirects=True)
        response.raise_for_status()
        json.loads(response.text)
    except (httpx.HTTPError, ValueError) as exc:
        raise ThetaFetchError(
            f"Could not fetch the public persona program {program} from {url} ({exc}). It is "
            f"downloaded at run time and never stored in this repository; check the network, "
            f"set {URL_ENV} to a reachable copy, or use persona_instruction="
            f"'persona_synthesis@v1' (ours).") from None
    # never half a file; a unique temporary name per writer, so that concurrent fits
    # fetching the same program do not rename one another's file away
    return atomic_write_text(target, response.text)


def _literal(text: str) -> str:
    # A literal dollar sign in fetched text must not read as a placeholder.
    return text.replace("$", "$$")


def program_template_text(program: Mapping[str, Any], source: str) -> str:
    """The Θ file (study format) for a saved program: instruction, worked demos, framing."""
    instruction = extract_instruction(program, source)
    text = _FRAMING.replace("@INSTRUCTION@", _literal(instruction))
    for demo in extract_demos(program, source):
        text += (_SHOT.replace("@PAST@", _literal(demo["past_judgements"].strip()))
                 .replace("@REASONING@", _literal(demo["reasoning"].strip()))
                 .replace("@PERSONA@", _literal(demo["synthesized_persona"].strip())))
    return text


def public_theta_template(url: str | None = None, *, program: str = DEFAULT_PROGRAM) -> Path:
    """A Θ file (our framing + the released program) for ``persona_instruction="public"``."""
    from persona_judge.method.templates import parse_template

    program_path = fetch_public_program(url, program=program)
    try:
        saved = json.loads(program_path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ThetaFetchError(f"{program_path} is not valid JSON ({exc}); delete it to fetch "
                              "it again.") from None
    if not isinstance(saved, Mapping):
        raise ThetaFetchError(f"{program_path} is not a saved DSPy program (a JSON object).")
    text = program_template_text(saved, str(program_path))
    n_demos = len(extract_demos(saved, str(program_path)))
    # Fetched text that happens to look like a section marker would split a section.
    parsed = parse_template(text, "check@1", str(program_path))
    if len(parsed.sections) != 3 + 2 * n_demos:
        raise ThetaFetchError(f"{program_path}: a demonstration contains a line that reads as "
                              "a '=== section ===' marker; this program cannot be used as is.")
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    path = theta_dir() / f"persona_synthesis_public@{PUBLIC_COMMIT[:7]}-{program}-{digest}.txt"
    if not path.is_file():
        atomic_write_text(path, text)
    return path


def resolve_instruction(instruction: str, theta_program: str = DEFAULT_PROGRAM,
                        model: str = "") -> str:
    """``"public"`` → the Θ file of the released program; anything else unchanged."""
    if instruction != PUBLIC_THETA:
        return instruction
    return str(public_theta_template(program=program_for_model(theta_program, model)))
