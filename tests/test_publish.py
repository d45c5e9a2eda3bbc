"""The publication rule of affectgpt.publish: a folder changes from the old set to the new set
with renames, a neighbour's entries survive, a failure keeps the old set, and every state a kill
can leave behind is recovered to the old or the new set."""

from __future__ import annotations

import pytest

from affectgpt.publish import published, recover, staged_output


def _write(folder, **files):
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)


def _read(folder):
    return {p.name: p.read_text() for p in sorted(folder.iterdir()) if p.is_file()}


def test_publish_replaces_owned_entries_keeps_others_and_leaves_nothing_behind(tmp_path):
    target = tmp_path / "out"
    _write(target, **{"table.parquet": "old", "stale.png": "old chart", "neighbour.txt": "keep"})
    with staged_output(target, owned=("table.parquet", "*.png")) as stage:
        assert stage.parent == target.parent and stage != target
        (stage / "table.parquet").write_text("new")
        assert _read(target)["table.parquet"] == "old"  # readers still see the old set
    assert _read(target) == {"neighbour.txt": "keep", "table.parquet": "new"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_failing_step_keeps_the_old_set(tmp_path):
    target = tmp_path / "out"
    _write(target, **{"a.json": "old"})
    with pytest.raises(RuntimeError), staged_output(target) as stage:
        (stage / "a.json").write_text("half")
        raise RuntimeError("boom")
    assert _read(target) == {"a.json": "old"} and sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_seeded_entries_are_linked_not_shared_for_writes(tmp_path):
    target = tmp_path / "out"
    _write(target / "shards", **{"a.bin": "A"})
    with staged_output(target, owned=("manifest.json",), seed=("shards",)) as stage:
        assert (stage / "shards" / "a.bin").read_text() == "A"
        tmp = stage / "shards" / "b.tmp"
        tmp.write_text("B")
        tmp.replace(stage / "shards" / "b.bin")
    assert _read(target / "shards") == {"a.bin": "A", "b.bin": "B"}


@pytest.mark.parametrize("state", ["ready_only", "ready_and_target", "old_and_ready", "old_and_target", "old_only"])
def test_recovery_gives_the_old_or_the_new_set(tmp_path, state):
    target, ready, old = tmp_path / "out", tmp_path / ".out.ready", tmp_path / ".out.old"
    dead_stage = tmp_path / ".out.staging-999999999"
    _write(dead_stage, x="partial")
    if "ready" in state:
        _write(ready, x="new")
    if "target" in state:
        _write(target, x="old" if "ready" in state else "new")
    if "old" in state:
        _write(old, x="old")
    expected = "old" if state == "old_only" else "new"
    assert _read(published(target))["x"] in {"old", "new"}
    recover(target)
    assert _read(target) == {"x": expected}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
