"""The environment files agree, and CI runs exactly the README's test command."""

import re
import tomllib

import yaml

from persona_judge.paths import project_root

ROOT = project_root()


def _pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = {}
    extras = project["optional-dependencies"]
    assert {"test", "browser", "reference", "reward-models"} <= set(extras)
    for spec in project["dependencies"] + [s for group in extras.values() for s in group]:
        name, sep, version = spec.partition("==")
        assert sep, f"pyproject.toml: {spec!r} is not pinned with =="
        pins[name.lower()] = version
    return pins


def _environment_pins() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    pins = {}
    for spec in pip:
        if spec.startswith("-e"):
            continue
        name, _, version = spec.partition("==")
        pins[name.lower()] = version
    assert "python=3.11" in env["dependencies"]
    return pins


def test_environment_yml_mirrors_pyproject_exactly():
    assert _environment_pins() == _pyproject_pins()


def test_ci_runs_the_readme_test_command_verbatim():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"```(?:bash|sh)\n(.*?)```", readme, flags=re.S)
    first_two = [c.strip() for c in commands[:2]]
    assert len(first_two) == 2, "README must open with two command blocks"
    test_command = first_two[1].splitlines()[-1].split("#")[0].strip()
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_command in [line.strip() for line in ci.splitlines()]
