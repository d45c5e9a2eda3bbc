"""Real material from the shared reference data: the demo clip through the whole build, the 332
EMER descriptions through extraction and the high-level filter, and text classifiers trained on
MERBench transcripts scored on a held-out split."""

from __future__ import annotations

import ast
import shutil

import numpy as np
import pandas as pd
import pytest
from data_testkit import fast_config

from affectgpt.bench.extract import get_extractor
from affectgpt.bench.metrics import score_ov
from affectgpt.bench.wheels import labels_agree
from affectgpt.data.build import build_dataset
from affectgpt.data.classifiers import TextClassifiers, load_mer2023_text, train_text_classifiers
from affectgpt.data.postfilter import high_level_decisions
from affectgpt.data.schema import read_caption_records
from affectgpt.data.signals import ClipSignals

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def mer2023(reference_data):
    return load_mer2023_text(reference_data)


@pytest.fixture(scope="module")
def emer(reference_data, mer2023):
    folder = reference_data / "zeroQiaoba-MERTools" / "MER2024" / "ov_store"
    gold = pd.read_csv(folder / "check-openset.csv")
    reasons = pd.read_csv(reference_data / "zeroQiaoba-AffectGPT" / "EMER" / "dataset-v2" / "final-EMER-reason.csv")
    joined = gold.merge(reasons[["name", "english"]], on="name").merge(
        mer2023[["name", "text"]], on="name", how="left")
    joined["gold"] = joined["openset"].map(ast.literal_eval)
    return joined


@pytest.fixture(scope="module")
def classifiers(mer2023, emer, tmp_path_factory):
    """Heads trained on 600 MER2023 train transcripts that are not among the EMER samples."""
    train = mer2023[(mer2023["split"] == "train") & ~mer2023["name"].isin(emer["name"])]
    return train_text_classifiers(train.sample(n=600, random_state=0), "MER2023 train sample",
                                  tmp_path_factory.mktemp("heads"), seed=0)


def test_real_demo_clip_through_the_whole_build(demo_clip, tmp_path, shared_cache):
    raw = tmp_path / "raw"
    raw.mkdir()
    shutil.copy(demo_clip["video"], raw / "sample_00000000.mp4")
    shutil.copy(demo_clip["audio"], raw / "sample_00000000.wav")
    (raw / "subtitles.csv").write_text(
        "name,english\nsample_00000000,\"I don't know! I, I, I don't have experience in this area.\"\n")
    config = fast_config(shared_cache, high_level=False)
    config.postfilter.length_quantiles = (0.0, 1.0)  # one clip: no distribution tails to cut
    result = build_dataset(raw, tmp_path / "out", config=config)
    assert result.counts["mer_caption"] == 1, result.skipped_by_reason
    record = read_caption_records(result.paths["mer_caption"]).iloc[0]
    assert "8 of 8 sampled frames" in record["clues"]["visual"]  # the doctor's face is found in every frame
    assert "without pauses" not in record["clues"]["audio"]  # silero-vad hears two speech segments
    assert record["filters"]["av_mismatch"]["kept"]
    assert record["ov_labels"] and record["description"].count("The speaker says") == 1


def test_emer_descriptions_extraction_matches_gold(emer):
    extractor = get_extractor("lexicon")
    predicted = [extractor.extract_labels(text) for text in emer["english"]]
    metric = score_ov([{"name": n, "gt": g, "pred": p} for n, g, p in zip(emer["name"], emer["gold"], predicted)],
                      keep_samples=False)
    shuffled = predicted[1:] + predicted[:1]
    baseline = score_ov([{"name": n, "gt": g, "pred": p} for n, g, p in zip(emer["name"], emer["gold"], shuffled)],
                        keep_samples=False)
    assert len(emer) == 332 and metric.n_scored > 300
    assert metric.score > baseline.score + 0.05, (metric.score, baseline.score)
    agree = np.mean([labels_agree(g, p) for g, p in zip(emer["gold"], predicted)])
    assert agree > 0.8


def test_classifiers_beat_chance_on_held_out_transcripts(mer2023, classifiers):
    """Balanced accuracy (mean per-class recall): chance is 1/k whatever the class imbalance."""
    from sklearn.metrics import balanced_accuracy_score

    held_out = mer2023[mer2023["split"] == "test1"].sample(n=300, random_state=1)
    emotion_probs, sentiment_probs = classifiers.predict(held_out["text"].tolist())
    emotion_pred = [classifiers.emotion.classes[i] for i in emotion_probs.argmax(1)]
    emotion_score = balanced_accuracy_score(held_out["emotion"], emotion_pred)
    with_sentiment = held_out["sentiment"].notna().to_numpy()
    sentiment_pred = [classifiers.sentiment.classes[i] for i in sentiment_probs[with_sentiment].argmax(1)]
    sentiment_score = balanced_accuracy_score(held_out["sentiment"][with_sentiment], sentiment_pred)
    assert emotion_score > 1 / 6 + 0.1, emotion_score
    assert sentiment_score > 1 / 3 + 0.1, sentiment_score


def test_high_level_filter_keeps_matching_descriptions_more_often(emer, classifiers):
    extractor = get_extractor("lexicon")
    rows = emer[emer["text"].notna()].reset_index(drop=True)
    labels = [extractor.extract_labels(text) for text in rows["english"]]
    signals = {name: ClipSignals(0, 0, [], 0, [], [], 0) for name in rows["name"]}
    probabilities = classifiers.predict(rows["text"].tolist())  # same subtitles every time: embed once
    voters = TextClassifiers(classifiers.emotion, classifiers.sentiment, classifiers.trained_on, classifiers.n_train)
    voters.predict = lambda texts: probabilities

    def kept_share(label_lists) -> float:
        records = [{"clip_id": n, "subtitle": s, "ov_labels": l, "sentiment": extractor.extract_sentiment(l)}
                   for n, s, l in zip(rows["name"], rows["text"], label_lists)]
        decisions = high_level_decisions(records, signals, voters, use_face=False, labels_agree=labels_agree)
        return float(np.mean([d["emotion_vote"]["kept"] for d in decisions.values()]))

    rng = np.random.default_rng(0)
    gold = rows["gold"].tolist()
    matched_gold, matched_extracted = kept_share(gold), kept_share(labels)
    mismatched_gold = np.mean([kept_share([gold[i] for i in rng.permutation(len(gold))]) for _ in range(2)])
    mismatched_extracted = np.mean([kept_share([labels[i] for i in rng.permutation(len(labels))]) for _ in range(2)])
    assert matched_gold > mismatched_gold + 0.08, (matched_gold, mismatched_gold)
    assert matched_extracted > mismatched_extracted


def test_the_caption_filter_never_trains_on_a_test_clip(reference_data):
    """`train_data: reference` draws from MER2023's train split, which holds the OV-MERD check
    set (a MER-UniBench test set): the sample leaves those clips out."""
    from affectgpt.data.build import reference_classifier_rows
    from affectgpt.data.config import load_build_config
    from affectgpt.data.reference_corpus import benchmark_test_clip_ids

    settings = load_build_config().postfilter.high_level
    rows = reference_classifier_rows(reference_data, settings.max_train_rows, settings.seed)
    assert 0.8 * settings.max_train_rows < len(rows) <= settings.max_train_rows and set(rows["split"]) == {"train"}
    assert not set(rows["name"]) & benchmark_test_clip_ids(reference_data)
