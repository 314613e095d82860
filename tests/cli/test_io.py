"""Result files are written atomically and output folders are safe, unique and stable."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

import persona_judge.io as pj_io
from persona_judge.errors import OutputError, PersonaJudgeError
from persona_judge.io import (
    assign_user_folders,
    atomic_write_json,
    atomic_write_text,
    check_output_root,
    replace_folder,
    user_folder_name,
)


def test_atomic_write_replaces_the_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "artifact.json"
    atomic_write_json(path, {"a": 1})
    atomic_write_json(path, {"b": [2, 3]})
    assert json.loads(path.read_text()) == {"b": [2, 3]}
    assert path.read_text().endswith("\n")
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)
    assert sorted(p.name for p in path.parent.iterdir()) == ["artifact.json"]


def test_a_full_disk_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "artifact.json"
    atomic_write_text(path, "the complete old result\n")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(pj_io.os, "fsync", full)
    with pytest.raises(OutputError) as info:
        atomic_write_text(path, "a new result that does not fit" * 1000)
    assert issubclass(OutputError, PersonaJudgeError)
    message = str(info.value)
    assert str(path) in message and "No space left on device" in message
    assert "the disk is full" in message
    assert path.read_text() == "the complete old result\n"
    assert [p.name for p in tmp_path.iterdir()] == ["artifact.json"]


def test_unserializable_data_is_a_bug_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        atomic_write_json(tmp_path / "x.json", {"when": object()})
    assert list(tmp_path.iterdir()) == []


def test_a_folder_in_the_way(tmp_path: Path) -> None:
    (tmp_path / "persona.txt").mkdir()
    with pytest.raises(OutputError, match="persona.txt: Is a directory"):
        atomic_write_text(tmp_path / "persona.txt", "x")


@pytest.mark.parametrize(
    ("user_id", "plain"),
    [("me", True), ("alice-2", True), ("u_17.b", True), ("Alice", False), ("..", False),
     (".hidden", False), ("a/b", False), ("a?b", False), (" me", False), ("con", False),
     ("x" * 61, False), ("", False), ("日本", False)],
)
def test_folder_names(user_id: str, plain: bool) -> None:
    name = user_folder_name(user_id)
    assert (name == user_id) is plain
    assert name not in ("", ".", "..") and "/" not in name and "\\" not in name
    assert not name.startswith(".") and len(name) <= 60 + 11
    assert user_folder_name(user_id) == name  # stable


def test_folder_names_never_collide() -> None:
    ids = ["a/b", "a?b", "a_b", "A_b", "a b", "a\\b", "..", "...", "", " ", "Me", "me", "ME"]
    names = [user_folder_name(i) for i in ids]
    assert len({n.lower() for n in names}) == len(ids)
    assert user_folder_name("a/b").startswith("a_b-")  # still readable


def test_assigned_folders_avoid_taken_and_crafted_names() -> None:
    crafted = user_folder_name("a/b")  # a plain id equal to another id's hashed name
    folders = assign_user_folders(["a/b", crafted])
    assert folders["a/b"] == crafted and folders[crafted] != crafted
    again = assign_user_folders(["new"], taken={"new": "someone-else"})
    assert again["new"] != "new"
    assert assign_user_folders(["me"], taken={"me": "me"}) == {"me": "me"}


def test_output_root_checks(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="is a file, not a folder"):
        check_output_root(tmp_path / "file")
    with pytest.raises(OutputError, match="cannot write to the output folder .*not a folder"):
        check_output_root(tmp_path / "file" / "below")
    assert check_output_root(tmp_path / "new" / "deep").is_dir()


def test_replace_folder_swaps_a_whole_result(tmp_path: Path) -> None:
    target, staging = tmp_path / "me", tmp_path / ".staging"
    target.mkdir()
    (target / "artifact.json").write_text("old")
    (target / "stale.txt").write_text("from an older version")
    staging.mkdir()
    (staging / "artifact.json").write_text("new")
    replace_folder(staging, target)
    assert sorted(p.name for p in target.iterdir()) == ["artifact.json"]
    assert (target / "artifact.json").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["me"]


def test_replace_folder_puts_the_old_result_back_on_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target, staging = tmp_path / "me", tmp_path / ".staging"
    target.mkdir()
    (target / "artifact.json").write_text("old")
    staging.mkdir()
    real = os.replace
    calls = []

    def second_rename_fails(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:
            raise OSError(errno.EACCES, os.strerror(errno.EACCES))
        return real(src, dst)

    monkeypatch.setattr(pj_io.os, "replace", second_rename_fails)
    with pytest.raises(OutputError, match="permission denied"):
        replace_folder(staging, target)
    assert (target / "artifact.json").read_text() == "old"


def test_clean_stale_folders_puts_an_aside_result_back_and_keeps_live_ones(
    tmp_path: Path,
) -> None:
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    dead = child.pid
    # a crash between "old result moved aside" and "new result moved in"
    (tmp_path / f".old-alice-{dead}").mkdir()
    (tmp_path / f".old-alice-{dead}" / "persona.txt").write_text("alice's fit")
    # a crash after the swap, before the aside copy was removed
    (tmp_path / "bob").mkdir()
    (tmp_path / "bob" / "persona.txt").write_text("bob's new fit")
    (tmp_path / f".old-bob-{dead}").mkdir()
    # this process is alive: its folders are never touched
    mine = tmp_path / f".staging-carol-{os.getpid()}"
    mine.mkdir()
    # not ours: a name that merely looks similar
    (tmp_path / ".staging-notes").mkdir()
    done = pj_io.clean_stale_folders(tmp_path)
    assert (tmp_path / "alice" / "persona.txt").read_text() == "alice's fit"
    assert (tmp_path / "bob" / "persona.txt").read_text() == "bob's new fit"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["alice", "bob", mine.name, ".staging-notes"])
    assert len(done) == 2 and any("put back alice/" in d for d in done)
    assert any(f"removed .old-bob-{dead}/, a previous result" in d for d in done)
    assert pj_io.clean_stale_folders(tmp_path) == []  # nothing left to do
