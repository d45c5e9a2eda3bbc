"""A corpus's content index names its revision by stat alone: the same string a full read gives,
refused once the folder changed, refreshed by reading only what changed."""

from __future__ import annotations

import os

import pytest

from affectgpt.data.content_index import StaleIndex, index_path, indexed_revision, write_index
from affectgpt.data.revision import content_revision


def _corpus(root):
    raw = root / "raw"
    (raw / "a").mkdir(parents=True)
    (raw / "a" / "b.mp4").write_bytes(b"clip b" * 100)
    (raw / "a-c.mp4").write_bytes(b"clip a-c")  # sorts before a/b as a string, after it by parts
    (raw / "subtitles.csv").write_text("name,subtitle\nb,hello\n")
    (raw / "manifest.json").write_text("{}")  # ignored by the tree hash, as `hash_tree` ignores it
    return raw


def test_the_indexed_revision_is_the_revision_a_full_read_gives(tmp_path):
    raw = _corpus(tmp_path)
    full = content_revision(raw)
    index = write_index(raw)
    assert index_path(raw) == tmp_path / "raw.content-index.json"
    assert index.revision() == full == indexed_revision(raw) == content_revision(raw)
    assert [entry.path for entry in index.files] == ["a/b.mp4", "a-c.mp4", "subtitles.csv"]


def test_the_revision_is_read_by_stat_alone_and_the_index_goes_stale_on_change(tmp_path):
    raw = _corpus(tmp_path)
    revision = write_index(raw).revision()
    clip = raw / "a" / "b.mp4"
    # Same size, same mtime, other bytes: the index cannot see it (no byte is read) ...
    stat = clip.stat()
    clip.write_bytes(b"CLIP B" * 100)
    os.utime(clip, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert content_revision(raw) == revision
    # ... a touched, added or removed file makes it stale, with the command that refreshes it
    os.utime(clip, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    (raw / "new.mp4").write_bytes(b"new")
    (raw / "a-c.mp4").unlink()
    with pytest.raises(StaleIndex, match=r"changed since its content index was written \(1 added, 1 removed, "
                                         r"1 changed, e\.g\. new\.mp4\); refresh it with `affectgpt build index "):
        content_revision(raw)
    read = []
    refreshed = write_index(raw, on_file=lambda path, was_read: read.append(path) if was_read else None)
    assert read == ["a/b.mp4", "new.mp4"]  # subtitles.csv unchanged: not read again
    assert refreshed.revision() == content_revision(raw) != revision
    index_path(raw).unlink()
    assert content_revision(raw) == refreshed.revision()  # the full read agrees


def test_an_unreadable_index_is_refused_naming_the_fix(tmp_path):
    raw = _corpus(tmp_path)
    index_path(raw).write_text("{not json")
    with pytest.raises(StaleIndex, match=r"unreadable content index .*rewrite it with `affectgpt build index"):
        content_revision(raw)


def test_build_index_command(tmp_path):
    from typer.testing import CliRunner

    from affectgpt.cli import app

    raw = _corpus(tmp_path)
    run = CliRunner().invoke(app, ["build", "index", str(raw)])
    assert run.exit_code == 0, run.output
    assert f"3 files (3 read, 0 unchanged); revision {content_revision(raw)}" in " ".join(run.output.split())
    missing = CliRunner().invoke(app, ["build", "index", str(tmp_path / "nope")])
    assert missing.exit_code == 4 and "FOLDER" in missing.output
