from affectgpt.manifest import SkippedRecord, StepManifest, hash_tree, read_manifest


def test_manifest_round_trip_counts_reasons(tmp_path):
    manifest = StepManifest(step="demo", kept=2, skipped=[
        SkippedRecord(record_id="a", reason="corrupt_video"),
        SkippedRecord(record_id="b", reason="corrupt_video"),
        SkippedRecord(record_id="c", reason="empty_subtitle"),
    ])
    manifest.write(tmp_path)
    back = read_manifest(tmp_path)
    assert back.skipped_by_reason == {"corrupt_video": 2, "empty_subtitle": 1}
    assert back.kept == 2


def test_hash_tree_changes_with_content(tmp_path):
    (tmp_path / "x.txt").write_text("1")
    first = hash_tree(tmp_path)
    (tmp_path / "x.txt").write_text("2")
    assert hash_tree(tmp_path) != first
