"""Helpers shared by the training tests (imported by module name: unique across test folders)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[2]


def build_reference_records(reference_data: Path, n_label_only: int = 200, n_val: int = 40) -> pd.DataFrame:
    """MER2023 subtitles + 6-way labels as ov_labels; the 100 EMER-v1 clips also carry their
    English reasoning as the description. The last `n_val` clips (sorted by id) form val."""
    mer = reference_data / "zeroQiaoba-MERTools" / "MERBench" / "dataset" / "mer2023-dataset-process"
    labels = pd.read_csv(mer / "label-6way.csv")
    subtitles = pd.read_csv(mer / "transcription-engchi-polish.csv")
    emer = pd.read_csv(reference_data / "zeroQiaoba-AffectGPT" / "EMER" / "dataset-v1" / "gt-eng.csv")
    table = labels.merge(subtitles, on="name").rename(columns={"name": "clip_id", "english": "subtitle"})
    table = table.merge(emer[["names", "reasons"]].rename(columns={"names": "clip_id", "reasons": "description"}),
                        on="clip_id", how="left")
    described = table[table["description"].notna()]
    label_only = table[table["description"].isna() & (table["split"] == "train")].sort_values("clip_id")
    table = pd.concat([described, label_only.head(n_label_only)]).sort_values("clip_id").reset_index(drop=True)
    table["ov_labels"] = table["emo"].map(lambda emo: [emo])
    table["description"] = table["description"].where(table["description"].notna(), None)
    table["split"] = "train"
    table.loc[table.index[-n_val:], "split"] = "val"
    return table[["clip_id", "subtitle", "description", "ov_labels", "split"]]


def write_config(path: Path, **train_overrides) -> Path:
    config = yaml.safe_load((REPO / "configs" / "tiny.yaml").read_text())
    config["train"].update(train_overrides)
    path.write_text(yaml.safe_dump(config))
    return path
