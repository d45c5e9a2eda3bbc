"""What an extraction folder holds, by name: the step, the feature table and the entries the step
owns. Apart from `extract` so that the steps that only join or read folders (the shard merge)
start without importing the encoders (torch and transformers: seconds per pod)."""

from __future__ import annotations

from affectgpt.features.packs import INDEX_FILE, PACK_DIR
from affectgpt.manifest import MANIFEST_NAME

STEP_NAME = "extract_features"
FEATURE_TABLE = "clip_features.parquet"
# What the step owns in its output folder (`shards/`: the per-clip files of older runs).
FEATURE_OUTPUTS = (FEATURE_TABLE, MANIFEST_NAME, INDEX_FILE, PACK_DIR, "shards")
# What a clip can take from the build's measurements (`affectgpt.data.media_facts`), counted per
# run in the manifest's `from_build` and summed over shards by the merge.
FROM_BUILD_FACTS = ("faces", "speech")
