"""Baseline for benchmarks/bench_scoring.py: the official fine-grained (OV) arithmetic written
independently with pandas, the way a data scientist would redo it from the paper's formula.

    python benchmarks/reference_ov_pandas.py SAMPLES.jsonl WHEEL_DIR FORMAT_CSV

It shares no code with affectgpt: the emotion-wheel CSVs are read with pandas, each label is
mapped as the official `backward_case3` does (word form -> base words -> synonyms across the 8
runs -> the alphabetically first word on the wheel -> its level-1 ring word), and per wheel

    P_w = mean over samples with a mapped ground truth of |G∩P| / |P|   (0 when P is empty)
    R_w = mean over the same samples of |G∩P| / |G|
    F_w = 2 P_w R_w / (P_w + R_w);   score = mean over the 5 wheels of F_w (NaN propagates).

Prints one JSON line: {"score", "precision", "recall", "n"}.
"""

from __future__ import annotations

import json
import re
import sys

import numpy as np
import pandas as pd

SPLIT = re.compile("['\",]")


def string_to_list(value) -> list[str]:
    """The official parse: a list as given; a string minus one leading "[" / trailing "]", split
    on quotes and commas."""
    if isinstance(value, list):
        return value
    if not isinstance(value, str) or value == "":
        return []
    if value[0] == "[":
        value = value[1:]
    if value and value[-1] == "]":
        value = value[:-1]
    return [item.strip() for item in SPLIT.split(value) if item.strip() not in ("", ",")]


def label_to_ring(wheel_dir: str, format_csv: str) -> pd.DataFrame:
    """One row per known label, one column per wheel: the label's level-1 ring word or ""."""
    fmt = pd.read_csv(format_csv)
    format2raws: dict[str, list[str]] = {}
    for raw, forms in zip(fmt["name"], fmt["format"].fillna("")):
        for form in string_to_list(forms):
            format2raws.setdefault(form, []).append(raw)
        format2raws.setdefault(raw, []).append(raw)
    syn = pd.read_csv(f"{wheel_dir}/synonym.csv")
    raw2wheelwords: dict[str, set[str]] = {}
    for run in range(1, 9):
        for word, synonyms in zip(syn[f"word_run{run}"].astype(str), syn[f"synonym_run{run}"]):
            word = word.strip().lower()
            raw2wheelwords.setdefault(word, set()).add(word)
            for synonym in string_to_list(synonyms):
                raw2wheelwords.setdefault(str(synonym).strip().lower(), set()).add(word)
    columns = {}
    for w in range(1, 6):
        tree = pd.read_csv(f"{wheel_dir}/wheel{w}.csv").ffill()
        ring = {}
        for l1, l2, l3 in zip(*(tree[c].str.lower().str.strip() for c in ("level1", "level2", "level3"))):
            ring[l1] = ring[l2] = ring[l3] = l1  # later rows win, as in the official dict build
        mapped = {}
        for label, raws in format2raws.items():
            candidates = sorted(word for raw in raws for word in raw2wheelwords[raw])
            mapped[label] = next((ring[c] for c in candidates if c in ring), "")
        columns[f"wheel{w}"] = mapped
    return pd.DataFrame(columns)


def exploded(labels: pd.Series, mapping: pd.Series) -> pd.DataFrame:
    """(sample, ring word) pairs, unmapped labels dropped, duplicates within a sample removed."""
    flat = labels.explode().dropna()
    rings = flat.map(mapping)
    pairs = pd.DataFrame({"sample": rings.index, "ring": rings.to_numpy()})
    pairs = pairs[pairs["ring"].notna() & (pairs["ring"] != "")]
    return pairs.drop_duplicates()


def score(samples_jsonl: str, wheel_dir: str, format_csv: str) -> dict:
    frame = pd.read_json(samples_jsonl, lines=True, dtype={"name": str})
    frame = frame.drop_duplicates("name", keep="last").reset_index(drop=True)  # official: name -> label dicts
    gt = frame["gt"].map(lambda v: [item.lower().strip() for item in string_to_list(v)])
    pred = frame["pred"].map(lambda v: [item.lower().strip() for item in string_to_list(v)])
    table = label_to_ring(wheel_dir, format_csv)
    rows = []
    for wheel in table.columns:
        g, p = exploded(gt, table[wheel]), exploded(pred, table[wheel])
        g_size = g.groupby("sample").size()
        p_size = p.groupby("sample").size().reindex(g_size.index, fill_value=0)
        common = g.merge(p, on=["sample", "ring"]).groupby("sample").size().reindex(g_size.index, fill_value=0)
        with np.errstate(all="ignore"):
            precision = (common / p_size.replace(0, np.nan)).fillna(0.0)
            recall = common / g_size
            pw = precision.mean() if len(g_size) else np.nan
            rw = recall.mean() if len(g_size) else np.nan
            rows.append((2 * pw * rw / (pw + rw), pw, rw))
    f, p_mean, r_mean = np.mean(np.array(rows, dtype=float), axis=0)
    return {"score": None if np.isnan(f) else float(f), "precision": float(p_mean), "recall": float(r_mean),
            "n": len(frame)}


if __name__ == "__main__":
    print(json.dumps(score(*sys.argv[1:4])))
