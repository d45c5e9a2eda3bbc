"""A line-by-line port of the official AffectGPT wheel scorer (pandas, lists, sorted()), used
only as an independent oracle for the fast implementation in affectgpt.bench.metrics."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd


def string_to_list(value):
    if isinstance(value, list):
        return value
    if value == "" or pd.isna(value):
        return []
    if value[0] == "[":
        value = value[1:]
    if value[-1] == "]":
        value = value[:-1]
    return [item.strip() for item in re.split("['\",]", value) if item.strip() not in ["", ","]]


def read_format2raws(format_csv):
    format2raws = {}
    df = pd.read_csv(format_csv)
    for raw, fmt in zip(df["name"], df["format"].fillna("")):
        for item in string_to_list(fmt):
            format2raws.setdefault(item, []).append(raw)
        format2raws.setdefault(raw, []).append(raw)
    return format2raws


def read_wheel_to_map(wheel_csv):
    store, l1, l2, l3 = {}, "", "", ""
    for _, row in pd.read_csv(wheel_csv).iterrows():
        if not pd.isna(row["level1"]):
            l1 = row["level1"]
        if not pd.isna(row["level2"]):
            l2 = row["level2"]
        if not pd.isna(row["level3"]):
            l3 = row["level3"]
        l1, l2, l3 = l1.lower().strip(), l2.lower().strip(), l3.lower().strip()
        store.setdefault(l1, {}).setdefault(l2, []).append(l3)
    return store


def read_synonym_merge(synonym_csv):
    df = pd.read_csv(synonym_csv)
    merged = {}
    for run in range(1, 9):
        one = {}
        for _, row in df.iterrows():
            raw = str(row[f"word_run{run}"]).strip().lower()
            one.setdefault(raw, []).append(raw)
            for syn in string_to_list(row[f"synonym_run{run}"]):
                one.setdefault(str(syn).strip().lower(), []).append(raw)
        for key in list(merged) + list(one):
            merged[key] = list(set(merged.get(key, []) + one.get(key, [])))
    return merged


def wheel_cluster(wheel_csv, level):
    tree = read_wheel_to_map(wheel_csv)
    out = {}
    for l1 in tree:
        out[l1] = l1 if level == "level1" else sorted(tree[l1])[0]
        for l2 in tree[l1]:
            out[l2] = l1 if level == "level1" else l2
            for l3 in tree[l1][l2]:
                out[l3] = l1 if level == "level1" else l2
    return out


def backward_case3(label, format_mapping, raw_mapping, wheel_map):
    if label not in format_mapping:
        return ""
    level1_whole = [raw for fmt in format_mapping[label] for raw in raw_mapping[fmt]]
    for level1 in sorted(level1_whole):
        if level1 in wheel_map:
            return wheel_map[level1]
    return ""


def map_list(labels, fm, rm, wm):
    return [m for m in (backward_case3(x, fm, rm, wm) for x in labels) if m != ""]


class Oracle:
    def __init__(self, wheel_dir, format_csv):
        self.fm = read_format2raws(format_csv)
        self.rm = read_synonym_merge(f"{wheel_dir}/synonym.csv")
        self.wheel_dir = wheel_dir

    def ov(self, name2gt, name2pred, level="level1"):
        scores = []
        for w in range(1, 6):
            wm = wheel_cluster(f"{self.wheel_dir}/wheel{w}.csv", level)
            acc, rec = [], []
            for name in name2gt:
                gt = set(map_list([i.lower().strip() for i in string_to_list(name2gt[name])], self.fm, self.rm, wm))
                pred = set(map_list([i.lower().strip() for i in string_to_list(name2pred[name])], self.fm, self.rm, wm))
                if len(gt) == 0:
                    continue
                if len(pred) == 0:
                    acc.append(0), rec.append(0)
                else:
                    acc.append(len(gt & pred) / len(pred)), rec.append(len(gt & pred) / len(gt))
            with np.errstate(all="ignore"):
                p, r = np.mean(acc) if acc else np.float64("nan"), np.mean(rec) if rec else np.float64("nan")
                scores.append([2 * (p * r) / (p + r), p, r])
        return np.mean(scores, axis=0).tolist()

    def hit(self, name2gt, name2pred):
        candidates_raw = list(set(name2gt.values()))
        scores = []
        for w in range(1, 6):
            wm = wheel_cluster(f"{self.wheel_dir}/wheel{w}.csv", "level1")
            cands = set(map_list(candidates_raw, self.fm, self.rm, wm))
            hits, ms = [], []
            for name in name2gt:
                gt = set(map_list([i.lower().strip() for i in string_to_list(name2gt[name])], self.fm, self.rm, wm))
                if not gt:
                    continue
                pred = set(map_list([i.lower().strip() for i in string_to_list(name2pred[name])], self.fm, self.rm, wm))
                hits.append(len(pred & gt))
                ms.append(0 if not (pred & cands) else len(pred & gt) / len(pred & cands))
            scores.append([np.mean(hits), np.mean(ms)])
        return np.mean(scores, axis=0).tolist()
