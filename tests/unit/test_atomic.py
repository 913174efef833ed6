import pytest

from harness.atomic import atomic_directory, replace_directory, write_text_atomic


def test_write_text_atomic_replaces_the_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "sub" / "f.jsonl"
    write_text_atomic(path, ["é\n", "b\n"])
    write_text_atomic(path, (s for s in ["x\n"]))
    assert path.read_bytes() == b"x\n" and sorted(p.name for p in path.parent.iterdir()) == ["f.jsonl"]


def test_atomic_directory_keeps_the_old_content_on_failure_and_replaces_it_on_success(tmp_path):
    target = tmp_path / "ckpt"
    with atomic_directory(target) as tmp:
        (tmp / "a").write_text("1")
    with pytest.raises(RuntimeError), atomic_directory(target) as tmp:
        (tmp / "a").write_text("2")
        raise RuntimeError("killed")
    assert (target / "a").read_text() == "1"
    with atomic_directory(target) as tmp:
        (tmp / "b").write_text("3")
    assert [p.name for p in target.iterdir()] == ["b"] and [p.name for p in tmp_path.iterdir()] == ["ckpt"]


def test_replace_directory_clears_a_stale_fixed_aside(tmp_path):
    target, aside = tmp_path / "state", tmp_path / "state.old"
    for d, name in ((target, "current"), (aside, "stale")):  # a crash after the last swap left state.old behind
        d.mkdir()
        (d / name).write_text("")
    new = tmp_path / "state.tmp"
    new.mkdir()
    (new / "next").write_text("")
    replace_directory(new, target, aside=aside)
    assert [p.name for p in target.iterdir()] == ["next"] and not aside.exists() and not new.exists()
