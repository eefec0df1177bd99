"""Atomic writes (issue 12, item 16): a failed write leaves neither a half file nor a ``*.tmp*`` file."""
from __future__ import annotations

import pytest

from common.files import write_atomic, write_text_atomic


def _leftovers(directory):
    return sorted(p.name for p in directory.iterdir() if ".tmp" in p.name)


def test_a_writer_that_fails_halfway_leaves_nothing_and_keeps_the_old_file(tmp_path):
    target = tmp_path / "run.toml"
    target.write_text("old\n")

    def half(tmp):
        tmp.write_text("half of the new")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, half)
    assert target.read_text() == "old\n"
    assert _leftovers(tmp_path) == []


def test_a_rename_onto_a_directory_fails_and_leaves_nothing(tmp_path):
    (tmp_path / "out").mkdir()
    with pytest.raises(IsADirectoryError):
        write_text_atomic(tmp_path / "out", "x")
    assert _leftovers(tmp_path) == [] and list((tmp_path / "out").iterdir()) == []


def test_an_interrupt_during_the_write_leaves_nothing(tmp_path):
    def interrupted(tmp):
        tmp.write_bytes(b"\0" * 1024)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomic(tmp_path / "model.pt", interrupted)
    assert list(tmp_path.iterdir()) == []
