"""Join the folders of an extraction in shards into one features folder.

Each shard's packs are linked into the joined folder (hard links; a copy across file systems),
its index and table rows are put back in manifest order, and its refusals kept. `splits` keeps
only the packs of those splits: evaluation gets a folder of the `test` packs alone, training one
without them, so no step receives features it does not read.

    merge_feature_shards(["f/0", "f/1"], "features", splits=TRAINING_SPLITS)
    merge_feature_shards(["f/0", "f/1"], "test-features", splits=("test",))
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from affectgpt.errors import BadInput
from affectgpt.features.outputs import FEATURE_OUTPUTS, FEATURE_TABLE, FROM_BUILD_FACTS, STEP_NAME
from affectgpt.features.packs import INDEX_FILE, PACK_DIR, read_index, write_index
from affectgpt.manifest import MANIFEST_NAME, StepManifest, read_manifest
from affectgpt.publish import fault_point, published, staged_output

TRAINING_SPLITS = ("train", "val", "none")
EVALUATION_SPLITS = ("test",)


def merge_feature_shards(shard_dirs: Sequence[str | Path], out_dir: str | Path, *,
                         splits: Sequence[str] | None = None) -> StepManifest:
    """One features folder from every shard of one extraction (each shard once, the same
    encoders), holding the clips of `splits` (all when None)."""
    started = time.perf_counter()
    folders = [published(Path(d)) for d in shard_dirs]
    manifests = [_shard_manifest(folder) for folder in folders]
    _check_one_extraction(manifests)
    keep = set(splits) if splits is not None else None
    with staged_output(Path(out_dir), owned=FEATURE_OUTPUTS) as stage:
        indices, tables = [], []
        for folder in folders:
            index = read_index(folder)
            if keep is not None:
                index = index[index["split"].isin(keep)]
            for pack in index["pack"].unique():
                _link(folder / pack, stage / pack)
            table = pd.read_parquet(folder / FEATURE_TABLE)
            indices.append(index)
            tables.append(table[table["clip_id"].isin(set(index["clip_id"]))])
        index = pd.concat(indices, ignore_index=True).sort_values("manifest_row", kind="stable")
        index = index.reset_index(drop=True)
        order = {clip_id: position for position, clip_id in enumerate(index["clip_id"])}
        table = pd.concat([t for t in tables if len(t)] or tables[:1], ignore_index=True)
        table = table.iloc[sorted(range(len(table)), key=lambda i: order[table["clip_id"].iloc[i]])]
        (stage / PACK_DIR).mkdir(exist_ok=True)
        write_index(stage, index)
        table.reset_index(drop=True).to_parquet(stage / FEATURE_TABLE, index=False)
        fault_point(f"features:wrote:{FEATURE_TABLE}")
        first = manifests[0]
        manifest = StepManifest(
            step="merge_features", inputs={"clip_manifest": first.inputs.get("clip_manifest", "")},
            parameters={**{k: v for k, v in first.parameters.items() if k not in ("shard", "workers")},
                        "splits": list(splits) if splits is not None else None},
            kept=len(index), skipped=[record for m in manifests for record in m.skipped],
            outputs={"clip_features": FEATURE_TABLE, "index": INDEX_FILE, "packs": f"{PACK_DIR}/"},
            timings_s={"merge": round(time.perf_counter() - started, 4),
                       "shards_total": round(sum(m.timings_s.get("total", 0.0) for m in manifests), 4)},
            extra={"cache_hits": sum(m.extra.get("cache_hits", 0) for m in manifests),
                   "computed": sum(m.extra.get("computed", 0) for m in manifests),
                   "from_build": {fact: sum(m.extra.get("from_build", {}).get(fact, 0) for m in manifests)
                                  for fact in FROM_BUILD_FACTS},
                   "packs": int(index["pack"].nunique()), "d_vision": first.extra.get("d_vision"),
                   "d_audio": first.extra.get("d_audio")},
        )
        manifest.write(stage)
    return manifest


def _shard_manifest(folder: Path) -> StepManifest:
    if not (folder / MANIFEST_NAME).is_file():
        raise BadInput(f"{folder}: no features manifest; give the folders the extraction shards wrote")
    manifest = read_manifest(folder)
    if manifest.step != STEP_NAME:
        raise BadInput(f"{folder}: written by step {manifest.step!r}, not {STEP_NAME!r}; give the shards' folders")
    return manifest


def _check_one_extraction(manifests: list[StepManifest]) -> None:
    shards = {m.parameters.get("shards", 1) for m in manifests}
    indices = sorted(m.parameters.get("shard", 0) for m in manifests)
    encoders = {m.parameters.get("encoder_hash") for m in manifests}
    if len(shards) != 1 or indices != list(range(next(iter(shards)))):
        raise BadInput(f"feature shards {indices} of a {sorted(shards)}-shard extraction: give each shard "
                       "0..N-1 once, all from the same extraction; rerun the missing or repeated shard tasks")
    if len(encoders) != 1:
        raise BadInput("the feature shards were extracted with different encoders; rerun them with one model config")


def _link(source: Path, destination: Path) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)
