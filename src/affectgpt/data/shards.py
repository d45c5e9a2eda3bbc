"""A build in shards: N tasks each do the per-clip work of their clips (`build_shard`), one task
puts the parts together and does what needs every clip (`reduce_shards`).

A clip's shard is a hash of its id modulo N (`shard_of`): stable across runs and machines, and
every clip (and every refused input record) lands in exactly one shard. A duplicate id lands in
the shard of the id it repeats, so each shard finds its own duplicates. The reduce puts clips,
refusals and records back in input order, so a sharded build writes the very dataset an
unsharded one writes (same tables, quarantine, data card numbers and manifest counts).

    for k in range(4):
        build_shard("demo/raw", f"parts/{k}", shard=k, shards=4)
    reduce_shards([f"parts/{k}" for k in range(4)], "demo/raw", "data/mer-caption")

A shard's folder holds `shard.json` (its ingest result, records, signals and refusals) and
`manifest.json`, published together (`affectgpt.publish`).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from affectgpt.data.build import BuildError, ClipPart, describe_clips, finish_build
from affectgpt.data.build_result import BuildResult
from affectgpt.data.config import BuildConfig, load_build_config
from affectgpt.data.ingest import IngestResult
from affectgpt.data.shard_key import shard_of, shard_plan
from affectgpt.data.signals import ClipSignals
from affectgpt.errors import BadInput
from affectgpt.manifest import MANIFEST_NAME, SkippedRecord, StepManifest
from affectgpt.publish import fault_point, published, staged_output

SHARD_FILE = "shard.json"
SHARD_FORMAT = 1
__all__ = ["build_shard", "join_parts", "reduce_shards", "shard_of", "shard_plan"]


def build_shard(raw_dir: str | Path, out_dir: str | Path, *, shard: int, shards: int,
                config_path: str | Path | None = None, config: BuildConfig | None = None, workers: int = 1,
                show_progress: bool = False) -> Path:
    """The per-clip work of shard `shard` of `shards` over `raw_dir`, written to `out_dir`."""
    if shard not in shard_plan(shards):
        raise BadInput(f"shard={shard}: a build in {shards} shards has shards 0..{shards - 1}")
    started = time.perf_counter()
    config = config or load_build_config(config_path)
    timings: dict[str, float] = {}
    part = describe_clips(raw_dir, config, workers=workers, show_progress=show_progress,
                          part=lambda record_id: shard_of(record_id, shards) == shard, timings=timings)
    payload = {
        "format": SHARD_FORMAT, "shard": shard, "shards": shards, "config": config.digest(),
        "raw_dir": str(raw_dir), "data_root": str(part.ingested.data_root) if part.ingested.data_root else None,
        "notes": part.ingested.notes, "clips": part.ingested.clips, "clip_order": part.ingested.clip_order,
        "skipped": [record.model_dump(mode="json") for record in part.ingested.skipped],
        "skipped_order": part.ingested.skipped_order,
        "records": part.records, "signals": {k: v.to_json() for k, v in part.signals.items()},
        "quarantine": part.quarantine, "computed": part.computed, "n_clip_results": part.n_clip_results,
    }
    out = Path(out_dir)
    with staged_output(out, owned=(SHARD_FILE, MANIFEST_NAME)) as stage:
        (stage / SHARD_FILE).write_text(json.dumps(payload, default=_plain, ensure_ascii=False))
        fault_point(f"build-shard:wrote:{SHARD_FILE}")
        timings["total"] = time.perf_counter() - started
        StepManifest(
            step="build_shard", inputs={"raw": str(raw_dir), "config": config.digest()},
            parameters={"shard": shard, "shards": shards, "workers": workers},
            kept=len(part.records), skipped=[_skipped(row) for row in part.quarantine] + part.ingested.skipped,
            outputs={"shard": SHARD_FILE}, timings_s={k: round(v, 3) for k, v in timings.items()},
            extra={"clips": len(part.ingested.clips), "computed_clips": part.computed},
        ).write(stage)
    return out


def reduce_shards(shard_dirs: Sequence[str | Path], raw_dir: str | Path, out_dir: str | Path,
                  config_path: str | Path | None = None, *, config: BuildConfig | None = None, workers: int = 1,
                  dvc_repo: str | Path | None = None, data_rev: str | None = None) -> BuildResult:
    """Join the shards of one build (each index exactly once, the same configuration) and finish
    it: corpus-level filters, splits as ingest set them, tables, data card, quarantine, manifest.
    A `sha256:` `data_rev` is checked against the corpus first (`revision.checked_revision`)."""
    started = time.perf_counter()
    from affectgpt.data.revision import checked_revision

    raw_hash = checked_revision(Path(raw_dir), data_rev)
    config = config or load_build_config(config_path)
    timings: dict[str, float] = {}
    tick = time.perf_counter()
    parts = [_read_shard(Path(d)) for d in shard_dirs]
    part = join_parts(parts, config)
    timings["join"] = time.perf_counter() - tick
    if not part.ingested.clips and not part.ingested.skipped:
        raise BuildError(f"{raw_dir}: no clips found (no video files / manifest rows); "
                         "give a folder of clips with subtitles.csv or a non-empty clip manifest")
    return finish_build(raw_dir, out_dir, part, config, workers=workers, dvc_repo=dvc_repo, timings=timings,
                        started=started, parameters={"shards": len(parts)}, raw_hash=raw_hash)


def join_parts(parts: list[dict[str, Any]], config: BuildConfig) -> ClipPart:
    """The shards' parts as one, in input order; refuses a set that is not one whole build."""
    if not parts:
        raise BuildError("no shards to reduce; give the folders every build_shard task wrote")
    shards = parts[0]["shards"]
    indices = sorted(p["shard"] for p in parts)
    if any(p["shards"] != shards for p in parts) or indices != list(range(shards)):
        raise BuildError(f"shards {indices} of a {shards}-shard build: each shard 0..{shards - 1} must be given "
                         "once, all from the same build; rerun the missing or repeated shard tasks")
    if any(p["config"] != config.digest() for p in parts):
        raise BuildError("the shards were built with another build configuration than the reduce's; "
                         "give the reduce the same config_path as the shards")
    clips = sorted(((o, c) for p in parts for o, c in zip(p["clip_order"], p["clips"], strict=True)),
                   key=lambda pair: pair[0])
    skipped = sorted(((o, s) for p in parts for o, s in zip(p["skipped_order"], p["skipped"], strict=True)),
                     key=lambda pair: pair[0])
    position = {clip["clip_id"]: order for order, clip in clips}
    notes: Counter[str] = Counter()
    for p in parts:
        notes.update(p["notes"])
    data_root = parts[0]["data_root"]
    ingested = IngestResult(clips=[c for _, c in clips], skipped=[SkippedRecord(**s) for _, s in skipped],
                            data_root=Path(data_root) if data_root else None, notes=dict(notes),
                            clip_order=[o for o, _ in clips], skipped_order=[o for o, _ in skipped])
    records = sorted((r for p in parts for r in p["records"]), key=lambda r: position[r["clip_id"]])
    quarantine = sorted((q for p in parts for q in p["quarantine"]), key=lambda q: position[q["clip_id"]])
    signals = {k: ClipSignals.from_json(v) for p in parts for k, v in p["signals"].items()}
    return ClipPart(ingested=ingested, records=records, signals=signals, quarantine=quarantine,
                    computed=sum(p["computed"] for p in parts), n_clip_results=sum(p["n_clip_results"] for p in parts))


def _read_shard(folder: Path) -> dict[str, Any]:
    path = published(folder) / SHARD_FILE
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BuildError(f"{path}: no shard here; give the folders the build_shard tasks wrote") from None
    except ValueError as exc:
        raise BuildError(f"{path}: unreadable shard ({exc}); rerun its build_shard task") from None
    if payload.get("format") != SHARD_FORMAT:
        raise BuildError(f"{path}: shard format {payload.get('format')!r}, expected {SHARD_FORMAT}; rerun its task")
    return payload


def _skipped(row: dict) -> SkippedRecord:
    return SkippedRecord(record_id=row["clip_id"], reason=row["reason"], detail=f"{row['stage']}: {row['detail']}")


def _plain(value: Any) -> Any:
    """numpy scalars and arrays (a Parquet clip manifest's cells) as JSON values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
