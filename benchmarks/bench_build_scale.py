"""Build at corpus scale: time per record of the manifest -> merge/extract -> post-filters ->
Parquet path for 1k, 3k and 10k synthetic records (no media decoding: the per-clip results a
build reads from its cache are generated), target: time per record at 10k <= 1.5x at 1k
(linear, not quadratic).

    .venv/bin/python benchmarks/bench_build_scale.py [--sizes 1000 3000 10000]

The baseline is the smallest size in the same run. What is timed is the code a rebuild runs
once every clip is cached: `affectgpt.data.build.select_records` (template merger, lexicon
label extraction, length and A/V filters, MER-Caption / MER-Caption+ selection, quarantine
rows) and the clip-manifest and caption-table writes.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent))
from rows import BenchRow, print_rows, write_rows

DEFAULT_SIZES = [1_000, 3_000, 10_000]
WORDS = ["happy", "smiling", "calm", "upset", "worried", "angry", "surprised", "tired", "relaxed", "tense", "laughing", "quiet", "loud", "frowning", "speaks", "slowly", "quickly", "softly", "nods", "looks", "away", "raises", "voice", "sighs"]


def synthetic(n: int, seed: int = 0) -> tuple[list[dict], dict[str, dict]]:
    """Ingested clips and their cached per-clip results, shaped as the build produces them."""
    rng = random.Random(seed)
    clips, results = [], {}
    for i in range(n):
        clip_id = f"clip{i:06d}"
        duration = rng.uniform(2.0, 8.0)
        frames = [round(t * 0.5, 2) for t in range(int(duration * 2))]
        speech = [(0.2, duration * rng.uniform(0.3, 0.9))]
        clips.append({"clip_id": clip_id, "video_path": f"/corpus/{clip_id}.mp4", "audio_path": f"/corpus/{clip_id}.wav",
                      "subtitle": " ".join(rng.choices(WORDS, k=rng.randint(3, 14))), "language": "en",
                      "duration_s": duration, "source": "synthetic", "split": rng.choice(("train", "val", "test"))})
        signals = {"duration_s": duration, "audio_duration_s": duration, "speech_segments_s": speech,
                   "speech_s": speech[0][1] - speech[0][0], "frame_times_s": frames,
                   "face_found": [rng.random() < 0.8 for _ in frames], "face_ratio": 0.8}
        results[clip_id] = {
            "clip_id": clip_id, "computed": [], "error": None, "signals": signals,
            "prefilter": {"kept": True, "reason": ""},
            "clues": {"audio": "The speaker " + " ".join(rng.choices(WORDS, k=rng.randint(4, 12))) + ".",
                      "visual": "The person " + " ".join(rng.choices(WORDS, k=rng.randint(4, 12))) + "."},
            "describers": {"audio:synthetic": "1", "visual:synthetic": "1"},
        }
    return clips, results


def time_select(n: int, work: Path) -> float:
    from affectgpt.data.build import _extractor, select_records
    from affectgpt.data.config import BuildConfig
    from affectgpt.data.ingest import IngestResult
    from affectgpt.data.schema import write_caption_records, write_clip_manifest

    config = BuildConfig()
    config.postfilter.high_level.enabled = False  # a trained classifier is a per-build constant, not per record
    clips, results = synthetic(n)
    out = work / f"out-{n}"
    out.mkdir(parents=True)
    extractor = _extractor(config)
    started = time.perf_counter()
    selected = select_records(IngestResult(clips=clips), results, config, extractor, work / f"cache-{n}", out, {})
    write_clip_manifest(clips, out / "clip_manifest.parquet")
    write_caption_records(selected.caption, out / "mer-caption.parquet")
    write_caption_records(selected.plus, out / "mer-caption-plus.parquet")
    return time.perf_counter() - started


def rows(sizes: list[int] | None = None) -> list[BenchRow]:
    sizes = sorted(sizes or DEFAULT_SIZES)
    with tempfile.TemporaryDirectory(prefix="bench-build-scale-") as tmp:
        time_select(200, Path(tmp) / "warm")  # imports and first-call costs out of the timings
        seconds = {n: time_select(n, Path(tmp)) for n in sizes}
    base = sizes[0]
    base_per_record = seconds[base] / base
    out = []
    for n in sizes[1:]:
        per_record = seconds[n] / n
        out.append(BenchRow(name=f"build records, time per record at {n:,}", value=per_record * 1e3, unit="ms",
                            baseline_name=f"per record at {base:,}", baseline=base_per_record * 1e3,
                            target="<= 1.5x (linear)", passed=per_record <= 1.5 * base_per_record,
                            note=f"{seconds[n]:.1f} s for {n:,} vs {seconds[base]:.1f} s for {base:,}"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=DEFAULT_SIZES)
    parser.add_argument("--json", type=Path, help="also write the table rows here (benchmarks/report.py)")
    args = parser.parse_args()
    result = rows(args.sizes)
    print_rows(result, "MER-Caption build path at corpus scale (synthetic records, no media)")
    if args.json:
        write_rows(result, args.json)


if __name__ == "__main__":
    main()
