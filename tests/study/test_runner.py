"""The papermill runner: configuration, parameters, failures, chapters without an endpoint."""

import nbformat
import papermill
import pytest
import yaml

from persona_judge import cli, paths
from persona_judge.data.benchmark import repo_id
from persona_judge.data.fixtures import write_fixture
from persona_judge.study import runner


def _notebook(path, params: str, body: str):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# A chapter\n\nIt explains things."),
                nbformat.v4.new_code_cell(params, metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A minimal project: study.yaml and three notebooks (fine, failing, needs an LLM)."""
    (tmp_path / "notebooks").mkdir()
    _notebook(tmp_path / "notebooks" / "ok.ipynb", 'mode = "real"\nseed = 0\nlabel = "x"',
              "print(mode, seed, label)")
    _notebook(tmp_path / "notebooks" / "bad.ipynb", 'mode = "real"',
              "x = 1\nraise ValueError('the data is odd')")
    _notebook(tmp_path / "notebooks" / "llm.ipynb", 'mode = "real"\nmodel = "m"',
              "print(model)")
    config = {"mode": "smoke", "dataset": "prism", "model": "m", "seed": 3, "max_users": 2,
              "notebooks": [{"name": "ok", "parameters": {"label": "chapter"}},
                            {"name": "llm", "needs_llm": True}]}
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(config))
    (tmp_path / "pyproject.toml").write_text("")
    monkeypatch.setattr(paths, "project_root", lambda: tmp_path)
    monkeypatch.setenv("PERSONA_JUDGE_DATA", str(tmp_path / "data"))
    return tmp_path


def _outputs(path):
    nb = nbformat.read(path, as_version=4)
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.get("outputs", []))


def test_overrides_are_read_as_yaml():
    assert runner.parse_override("max_users=null") == ("max_users", None)
    assert runner.parse_override("seed=4") == ("seed", 4)
    assert runner.parse_override("model=meta-llama/X") == ("model", "meta-llama/X")
    with pytest.raises(runner.StudyRunError, match="key=value"):
        runner.parse_override("seed")


def test_config_errors_name_the_file_and_setting(project):
    bad = project / "bad.yaml"
    bad.write_text("mode: fast\n")
    with pytest.raises(runner.StudyRunError, match="bad.yaml: setting 'mode'"):
        runner.load_config(bad)
    with pytest.raises(runner.StudyRunError, match="not found"):
        runner.load_config(project / "missing.yaml")


def test_each_notebook_gets_only_the_parameters_it_declares(project):
    config = runner.load_config(overrides={"seed": 9})
    ok, llm = runner.chapters(config)
    assert runner.notebook_parameters(ok, config, {"seed": 9}) == {
        "mode": "smoke", "seed": 9, "label": "chapter"}
    assert runner.notebook_parameters(llm, config, {}) == {"mode": "smoke", "model": "m"}


def test_smoke_run_executes_every_chapter_and_records_the_mode(project):
    config = runner.load_config(overrides={"seed": 9})
    written = runner.run_study(config, {"seed": 9})
    assert [p.name for p in written] == ["ok.ipynb", "llm.ipynb"]
    assert _outputs(written[0]).strip() == "smoke 9 chapter"
    status = (project / "book" / "generated" / "run_status.md").read_text()
    assert "SMOKE RUN" in status and "`seed=9`" in status


def test_a_failing_notebook_is_named_with_its_cell(project):
    config = runner.load_config()
    config["notebooks"] = ["ok", "bad", "llm"]
    with pytest.raises(runner.StudyRunError) as info:
        runner.run_study(config)
    message = str(info.value)
    assert "notebook bad failed in cell" in message
    assert "ValueError: the data is odd" in message
    assert not (project / "book" / "executed" / "llm.ipynb").exists()  # the run stopped


def test_real_run_without_endpoint_skips_llm_chapters_with_a_page_saying_how(
        project, monkeypatch):
    for name in ("prism",):
        write_fixture(name, paths.hub_dir() / repo_id(name))  # the data is already cached
    monkeypatch.setattr(runner, "_endpoint_configured", lambda: False)
    written = runner.run_study(runner.load_config(overrides={"mode": "real"}), {"mode": "real"})
    page = nbformat.read(written[1], as_version=4)
    assert all(c.cell_type == "markdown" for c in page.cells)
    assert "TOGETHER_API_KEY" in page.cells[1].source and "LLM_BASE_URL" in page.cells[1].source
    assert _outputs(written[0]).strip() == "real 3 chapter"
    status = (project / "book" / "generated" / "run_status.md").read_text()
    assert "Not executed (no LLM endpoint configured): llm." in status


def test_real_run_without_data_ends_with_a_message_not_a_traceback(project, monkeypatch,
                                                                  capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code = cli.main(["run", "-p", "mode=real", "--no-book"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: MichaelR207/prism_personalized_0125 is not in the local copy")
    assert "MODE=smoke" in err and "Traceback" not in err


def test_unknown_notebook_in_only_is_refused(project):
    with pytest.raises(runner.StudyRunError, match="unknown notebook"):
        runner.run_study(runner.load_config(), only=["nope"])


def test_every_study_notebook_declares_parseable_parameters_and_has_no_outputs():
    root = paths.project_root()
    config = runner.load_config(root / "study.yaml")
    for chapter in runner.chapters(config):
        nb = nbformat.read(chapter.source, as_version=4)
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{chapter.name}: needs exactly one parameters cell"
        declared = papermill.inspect_notebook(str(chapter.source))
        names = [line.split("=")[0].strip() for line in tagged[0].source.splitlines()
                 if "=" in line and not line.lstrip().startswith("#")]
        assert set(names) == set(declared), f"{chapter.name}: papermill cannot parse {names}"
        assert "mode" in declared
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), \
            f"{chapter.name}: keep notebooks/ free of outputs (the runner executes them)"
