"""fusegen.atomic.atomic_write: the file appears whole or not at all."""

import json
import os

import pytest

from fusegen.atomic import atomic_write


def test_writes_and_replaces_whole_files(tmp_path):
    path = tmp_path / "sub" / "report.json"
    with atomic_write(path, "w") as f:
        json.dump({"a": 1}, f)
    assert json.loads(path.read_text()) == {"a": 1}
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600
    with atomic_write(path, "w") as f:
        f.write('{"a": 2}')
    assert json.loads(path.read_text()) == {"a": 2}
    assert [p.name for p in path.parent.iterdir()] == ["report.json"]


def test_an_error_leaves_the_old_file_and_no_temp_file(tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_write(path) as f:
            f.write(b"half of a new fi")
            raise RuntimeError("boom")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


def test_mode_is_checked(tmp_path):
    with pytest.raises(ValueError, match="mode"):
        with atomic_write(tmp_path / "x", "a"):
            pass


def test_stale_temporaries_of_a_killed_write_are_removed(tmp_path):
    from fusegen.atomic import remove_stale_temporaries

    (tmp_path / ".last.pt.abc123.tmp").write_bytes(b"half")
    (tmp_path / "last.pt").write_bytes(b"whole")
    (tmp_path / "notes.tmp").write_bytes(b"not ours")  # no leading dot: not atomic_write's
    removed = remove_stale_temporaries(tmp_path)
    assert [p.name for p in removed] == [".last.pt.abc123.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt", "notes.tmp"]
    assert remove_stale_temporaries(tmp_path / "missing") == []
