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


def test_a_run_that_stops_still_names_the_run_of_every_page_it_rewrote(project):
    config = runner.load_config()
    runner.run_study({**config, "seed": 1})  # a first, complete run: ok and llm
    first = runner.chapter_runs()
    assert first["ok"]["parameters"]["seed"] == 1
    config["notebooks"] = ["ok", "bad", "llm"]
    with pytest.raises(runner.StudyRunError):
        runner.run_study({**config, "seed": 2})  # rewrites ok, then stops at bad
    provenance = runner.read_provenance(runner.Site.default())
    runs = runner.chapter_runs()
    # ok's page is the second run's, and says so; llm's page is still the first run's
    assert runs["ok"]["parameters"]["seed"] == 2 and runs["llm"] == first["llm"]
    assert provenance["ok"]["settings"]["seed"] == 2
    assert not (project / "book" / "generated" / "chapter_runs.json").exists()  # one record


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
    assert "Not executed: llm (no LLM endpoint configured)." in status


def test_real_run_without_data_ends_with_a_message_not_a_traceback(project, monkeypatch,
                                                                  capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code = cli.main(["run", "-p", "mode=real", "--no-book"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: this run needs PersonalRewardBench's prism, and prism is not "
                          "on this machine (MichaelR207/prism_personalized_0125 is not in the "
                          "local copy")
    assert "persona-judge download" in err and "persona-judge run --smoke" in err
    assert "MODE=smoke" in err and "Traceback" not in err and "-p mode smoke" not in err


@pytest.mark.parametrize("command", ["run", "estimate"])
def test_without_data_the_message_names_every_missing_dataset(tmp_path, monkeypatch, capsys,
                                                              command):
    # before: the first missing dataset only, and papermill's `-p mode smoke` as the advice;
    # the study's own study.yaml: chapter 05's grid reads both datasets
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("PERSONA_JUDGE_DATA", str(tmp_path / "data"))
    write_fixture("prism", paths.hub_dir() / repo_id("prism"))  # one of the two is here
    argv = [command, "-p", "mode=real", "--only", "05_main_results"] + (
        ["--no-book", "--site", str(tmp_path / "site")] if command == "run" else [])
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "needs PersonalRewardBench's chatbot_arena and prism, and chatbot_arena is not" in err
    assert repo_id("chatbot_arena") in err and repo_id("prism") not in err
    monkeypatch.setenv("PERSONA_JUDGE_DATA", str(tmp_path / "empty"))  # neither is here
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert code == 2 and "chatbot_arena and prism are not on this machine" in err
    assert repo_id("chatbot_arena") in err and repo_id("prism") in err
    assert "`persona-judge download` (both datasets" in err
    assert "`persona-judge run --smoke`" in err


def test_run_smoke_is_a_smoke_run(project, capsys):
    config = yaml.safe_load((project / "study.yaml").read_text())
    (project / "study.yaml").write_text(yaml.safe_dump({**config, "mode": "real"}))
    assert cli.main(["run", "--smoke", "--no-book", "--only", "ok"]) == 0
    assert _outputs(project / "book" / "executed" / "ok.ipynb").strip() == "smoke 3 chapter"
    first = runner.chapter_runs()
    assert set(first) == {"ok"} and first["ok"]["parameters"]["mode"] == "smoke"
    assert first["ok"]["started"] <= first["ok"]["finished"]
    # a later run of another chapter keeps the record of the page it did not touch
    assert cli.main(["run", "--smoke", "--no-book", "--only", "llm", "-p", "model=m2"]) == 0
    runs = runner.chapter_runs()
    assert runs["ok"] == first["ok"] and runs["llm"]["parameters"]["model"] == "m2"
    assert cli.main(["run", "--smoke", "-p", "mode=real", "--no-book"]) == 2
    assert "--smoke contradicts -p mode=real" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["run", "estimate"])
def test_papermills_form_of_a_setting_is_named_with_the_right_one(project, capsys, command):
    # before: `run` failed on a stray "smoke", `estimate` took it for a config file
    assert cli.main([command, "-p", "mode", "smoke"]) == 2
    err = capsys.readouterr().err
    assert "-p mode smoke: this command takes -p mode=smoke" in err and "--smoke" in err
    assert cli.main([command, "-p", "seed", "4"]) == 2
    assert "-p seed 4: this command takes -p seed=4" in capsys.readouterr().err


def test_the_readmes_papermill_one_liner_writes_where_git_ignores_it():
    import re
    import shutil
    import subprocess

    root = paths.project_root()
    readme = (root / "README.md").read_text(encoding="utf-8")
    lines = re.findall(r"^\S*papermill (\S+\.ipynb) (\S+\.ipynb)", readme, flags=re.M)
    assert lines, "the README shows a papermill one-liner"
    if shutil.which("git") is None or not (root / ".git").exists():
        pytest.skip("not a git checkout")
    for _, output in lines:
        ignored = subprocess.run(["git", "check-ignore", "-q", "--no-index", output], cwd=root)
        assert ignored.returncode == 0, f"{output} (the README's papermill output) is not " \
                                        "git-ignored"


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


# -- settings precedence, grids, optional chapters, pages --------------------------------


@pytest.fixture
def grid_project(project):
    nb = project / "notebooks"
    _notebook(nb / "cells.ipynb", 'mode = "real"\ndataset = "d"\nmodel = "m"\nseed = 0',
              "print(dataset, model, seed)")
    _notebook(nb / "gated.ipynb", 'mode = "real"',
              "from persona_judge.data.benchmark import DataUnavailableError\n"
              "raise DataUnavailableError('access to the raw data was refused')")
    _notebook(nb / "buggy.ipynb", 'mode = "real"', "raise KeyError('a bug, not bad input')")
    return project


def test_settings_precedence_study_then_chapter_then_grid_then_command_line(grid_project):
    config = runner.load_config(overrides={})
    config["seed"] = 1
    config["notebooks"] = [{"name": "cells", "parameters": {"seed": 2, "model": "chapter-m"},
                            "grid": {"model": ["g1", "g2"]}}]
    chapter = runner.chapters(config)[0]
    cells = runner.expand(chapter)
    assert [c.cell for c in cells] == [{"model": "g1"}, {"model": "g2"}]
    # grid beats chapter parameters, chapter parameters beat study.yaml
    assert runner.notebook_parameters(cells[0], config, {}) == {
        "mode": "smoke", "dataset": "prism", "model": "g1", "seed": 2}
    # the command line beats everything, and narrows a grid axis to its value
    narrowed = runner.expand(chapter, {"model": "cli-m"})
    assert [c.cell for c in narrowed] == [{"model": "cli-m"}]
    assert runner.notebook_parameters(narrowed[0], config, {"model": "cli-m", "seed": 7}) == {
        "mode": "smoke", "dataset": "prism", "model": "cli-m", "seed": 7}


def test_a_grid_chapter_runs_once_per_cell_into_its_own_pages(grid_project):
    config = runner.load_config()
    config["notebooks"] = [{"name": "cells", "grid": {"dataset": ["prism", "chatbot_arena"],
                                                      "model": ["org/Big-70B", "org/Small-8B"]}}]
    written = runner.run_study(config, {})
    names = [p.relative_to(grid_project / "book" / "executed").as_posix() for p in written]
    # pages sort in grid order (the book lists them with a glob)
    assert names == ["cells/01--prism--big-70b.ipynb", "cells/02--prism--small-8b.ipynb",
                     "cells/03--chatbot-arena--big-70b.ipynb",
                     "cells/04--chatbot-arena--small-8b.ipynb"]
    assert _outputs(written[3]).strip() == "chatbot_arena org/Small-8B 3"
    # each cell's page is titled with its values, so the table of contents tells them apart
    title = nbformat.read(written[3], as_version=4).cells[0].source.splitlines()[0]
    assert title == "# A chapter: Chatbot Arena, Small-8B"  # as a reader names them
    # a later run of a narrower grid leaves no page of the earlier one behind
    runner.run_study(config, {"model": "org/Big-70B"})
    left = sorted(p.name for p in (grid_project / "book" / "executed" / "cells").iterdir())
    assert left == ["01--prism--big-70b.ipynb", "02--chatbot-arena--big-70b.ipynb"]


def test_an_optional_chapter_with_an_expected_problem_becomes_a_page_and_the_run_goes_on(
        grid_project):
    config = runner.load_config()
    config["notebooks"] = [{"name": "gated", "optional": True}, "ok"]
    written = runner.run_study(config, {})
    page = nbformat.read(written[0], as_version=4)
    assert "access to the raw data was refused" in page.cells[1].source
    assert _outputs(written[1]).strip() == "smoke 3 x"
    status = (grid_project / "book" / "generated" / "run_status.md").read_text()
    assert "Not executed: gated (stopped: DataUnavailableError)" in status


def test_an_optional_chapter_with_a_bug_still_stops_the_run(grid_project):
    config = runner.load_config()
    config["notebooks"] = [{"name": "buggy", "optional": True}, "ok"]
    with pytest.raises(runner.StudyRunError, match="KeyError"):
        runner.run_study(config, {})


def test_unknown_chapter_keys_and_bad_grids_are_named(grid_project):
    config = runner.load_config()
    config["notebooks"] = [{"name": "ok", "need_llm": True}]
    with pytest.raises(runner.StudyRunError, match="unknown key.*need_llm"):
        runner.chapters(config)
    config["notebooks"] = [{"name": "ok", "grid": {"model": "one"}}]
    with pytest.raises(runner.StudyRunError, match="grid"):
        runner.chapters(config)


def test_executed_pages_hide_plumbing_and_say_how_to_rerun(project):
    config = runner.load_config()
    written = runner.run_study(config, {"seed": 9})
    nb = nbformat.read(written[0], as_version=4)
    tags = {c.get("id"): c.metadata.get("tags", []) for c in nb.cells}
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    injected = next(c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", []))
    assert "remove-cell" in params.metadata["tags"]
    assert "remove-cell" in injected.metadata["tags"]
    body = nb.cells[-1]
    assert "hide-input" in body.metadata.get("tags", [])
    # under the title: the run the page comes from, the chapter's opening, then the rerun box
    assert [c.get("id") for c in nb.cells[1:4]] == ["run-provenance", "chapter-opening",
                                                    "rerun-this-chapter"], tags
    assert "Computed in the smoke run of" in nb.cells[1].source and "seed=9" in nb.cells[1].source
    box = nb.cells[3]
    assert box.cell_type == "markdown" and "Rerun this chapter" in box.source, tags
    assert "persona-judge run --only ok -p seed=9" in box.source
    assert "papermill notebooks/ok.ipynb" in box.source and "-p label chapter" in box.source
    assert "-p seed 9" in box.source


def test_papermill_command_round_trips_every_value_type():
    command = runner.pages.papermill_command(
        "c", {"mode": "smoke", "max_users": None, "seed": 3, "flag": True,
              "llm_settings": {"timeout": 30}, "name": "two words"})
    assert "-p max_users None" in command and "-p seed 3" in command
    assert "-y 'llm_settings: {timeout: 30}'" in command
    assert "-p name 'two words'" in command


def test_a_skipped_chapter_glues_not_run_for_every_key_the_book_uses(project, monkeypatch):
    book = project / "book"
    book.mkdir()
    (book / "intro.md").write_text("Result: {glue:text}`executed/llm.ipynb::headline:s`.\n"
                                   "```{glue} table\n:doc: executed/llm.ipynb\n```\n")
    for name in ("prism",):
        write_fixture(name, paths.hub_dir() / repo_id(name))
    monkeypatch.setattr(runner, "_endpoint_configured", lambda: False)
    written = runner.run_study(runner.load_config(overrides={"mode": "real"}), {"mode": "real"})
    glued = {o.metadata["scrapbook"]["name"]: o.data["text/plain"]
             for c in nbformat.read(written[1], as_version=4).cells if c.cell_type == "code"
             for o in c.outputs}
    assert glued == {"headline": "'not run'", "table": "'not run'"}


def test_a_run_into_another_site_leaves_the_checkout_alone(project, tmp_path_factory):
    (project / "_config.yml").write_text("title: t\n")
    (project / "_toc.yml").write_text("format: jb-book\nroot: book/intro\n")
    (project / "book").mkdir()
    (project / "book" / "intro.md").write_text("# Intro\n")
    site = runner.Site(tmp_path_factory.mktemp("site"))
    written = runner.run_study(runner.load_config(), {}, site=site)
    assert all(site.root in p.parents for p in written)
    assert (site.root / "_config.yml").is_file() and (site.root / "book" / "intro.md").is_file()
    assert not (project / "book" / "executed").exists()
    assert not (project / "book" / "generated").exists()


@pytest.mark.parametrize("endpoint", [True, False])
def test_local_run_needs_an_endpoint_for_llm_chapters_and_says_local_model_check(
        project, monkeypatch, endpoint):
    monkeypatch.setattr(runner, "_endpoint_configured", lambda: endpoint)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # local runs read fixtures: no download
    written = runner.run_study(runner.load_config(overrides={"mode": "local"}), {"mode": "local"})
    assert _outputs(written[0]).strip() == "local 3 chapter"
    status = (project / "book" / "generated" / "run_status.md").read_text()
    assert "LOCAL MODEL CHECK" in status and "SMOKE" not in status
    assert not paths.hub_dir().exists()
    if endpoint:
        assert _outputs(written[1]).strip() == "m"
    else:
        assert "Not executed: llm (no LLM endpoint configured)." in status
