"""The data version a run is keyed on, for a raw-clip folder, a clip manifest or a MER-UniBench
test-set folder alike.

It lives in the library, not in the pipeline CLI that fills `data_rev`/`unibench_rev` by
default, because the bench (`affectgpt.bench.testsets.unibench_revision`) records the same
revision in every report: one function, so the two can never disagree.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from affectgpt.errors import BadInput
from affectgpt.manifest import hash_file, hash_tree


def content_revision(raw_dir: Path) -> str:
    """`dvc:<md5>` when the folder is DVC-tracked, else `sha256:` of its content (so the kfp
    cache still can't mix up two versions), from its content index when it has one
    (`affectgpt.data.content_index`: the same value, read without reading the corpus). For a clip manifest, the manifest and every media
    file it names are hashed. Not the same job as `affectgpt.data.dvc.data_revision` (which
    only reads the md5 a `.dvc` pointer records and is used here for the first case)."""
    tracked = raw_dir.with_name(raw_dir.name + ".dvc")
    if raw_dir.is_dir() and tracked.is_file():
        from affectgpt.data.dvc import data_revision as dvc_revision

        revision = dvc_revision(raw_dir.parent, raw_dir.name)
        if revision:
            return f"dvc:{revision}"
    if raw_dir.is_dir():
        from affectgpt.data.content_index import indexed_revision

        # A content index gives the same string as the full read, by stat alone (no byte read).
        return indexed_revision(raw_dir) or f"sha256:{hash_tree(raw_dir)[:16]}"
    import pyarrow.parquet as pq  # only a clip manifest needs it

    digest = hashlib.sha256(hash_file(raw_dir).encode())
    table = pq.read_table(raw_dir)
    for column in ("video_path", "audio_path"):
        for value in table.column(column).to_pylist() if column in table.column_names else []:
            media = Path(value) if Path(value).is_absolute() else raw_dir.parent / value
            digest.update((hash_file(media) if media.is_file() else f"missing:{value}").encode())
    return f"sha256:{digest.hexdigest()[:16]}"


class RevisionMismatch(BadInput):
    """The corpus a step reads is not the one the run's revision names."""


def checked_revision(raw_dir: Path, revision: str | None) -> str | None:
    """The folder's full tree hash, after checking a `sha256:` revision against it: a revision
    taken from a content index by stat alone (or before someone edited the corpus) is checked
    here, by the step that reads every byte anyway. `dvc:` and free-form revisions name the data
    by other means and are not checked; None when nothing was hashed."""
    raw_dir = Path(raw_dir)
    if not revision or not revision.startswith("sha256:") or not raw_dir.is_dir():
        return None
    tree = hash_tree(raw_dir)
    if not tree.startswith(revision.removeprefix("sha256:")):
        raise RevisionMismatch(
            f"{raw_dir} hashes to sha256:{tree[:16]} but the run names data_rev={revision}: the corpus changed "
            f"after its revision was taken; refresh its index (`affectgpt build index {raw_dir}`) if it has one, "
            "and submit again")
    return tree
