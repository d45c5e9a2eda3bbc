"""Describer selection ("model-based crowdsourcing"): score every candidate describer of a
modality on a human-labelled pilot set by the OV-label Fs of MER-UniBench and keep the best one
per modality. The table of scores is written so the choice can be reviewed.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from affectgpt.data.cache import ClipCache
from affectgpt.data.clipwork import ClipWorker
from affectgpt.data.config import BuildConfig
from affectgpt.data.describers import available_describers, make_describer
from affectgpt.data.ingest import ingest
from affectgpt.data.signals import ClipSignals
from affectgpt.media import MediaError, load_clip


def select_describers(pilot: str | Path, config: BuildConfig, cache_dir: str | Path,
                      out_dir: str | Path | None = None) -> tuple[dict[str, str], pd.DataFrame]:
    """({modality: best describer name}, score table). `pilot` is a clip folder or manifest whose
    clips carry gold `ov_labels`; clips without gold labels are not scored."""
    from affectgpt.bench.extract import get_extractor
    from affectgpt.bench.metrics import score_ov

    extractor = get_extractor(config.extractor)
    clips = [c for c in ingest(pilot, config.ingest).clips if c.get("ov_labels")]
    if not clips:
        raise ValueError(f"{pilot}: no pilot clips with gold ov_labels; add them (labels.csv or the manifest)")
    worker = ClipWorker(config, str(cache_dir))
    cache = ClipCache(cache_dir)
    rows = []
    for name, modality in available_describers(config.describers).items():
        describer = make_describer(name, config.describers)
        samples = []
        for clip in clips:
            result = worker.process(clip)  # signals come from the build cache when present
            clue = ""
            if not result["error"]:
                key = result["content_key"]
                cached = cache.get(f"clue-{describer.name}", describer.version, key)
                if cached is None:
                    media = None
                    if describer.needs_media:
                        try:
                            media = load_clip(clip["video_path"], clip.get("audio_path"))
                        except MediaError:
                            media = None
                    if media is not None or not describer.needs_media:
                        cached = {"text": describer.describe(clip, ClipSignals.from_json(result["signals"]), media)}
                        cache.put(f"clue-{describer.name}", describer.version, key, cached)
                clue = (cached or {}).get("text", "")
            samples.append({"name": clip["clip_id"], "gt": clip["ov_labels"], "pred": extractor.extract_labels(clue)})
        metric = score_ov(samples, keep_samples=False)
        rows.append({"modality": modality, "describer": name, "version": describer.version,
                     "ov_fs": metric.score, "n_pilot": len(samples), "n_scored": metric.n_scored})
    table = pd.DataFrame(rows).sort_values(["modality", "ov_fs"], ascending=[True, False], na_position="last")
    choices = {modality: group.iloc[0]["describer"] for modality, group in table.groupby("modality")}
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        table.to_csv(out / "describer_selection.csv", index=False)
        lines = ["| modality | describer | version | OV Fs | pilot clips |", "| --- | --- | --- | --- | --- |"]
        lines += [f"| {r.modality} | {r.describer}{' (chosen)' if choices[r.modality] == r.describer else ''} | "
                  f"{r.version} | {r.ov_fs:.4f} | {r.n_scored}/{r.n_pilot} |" for r in table.itertuples()]
        (out / "describer_selection.md").write_text("\n".join(lines) + "\n")
    return choices, table

