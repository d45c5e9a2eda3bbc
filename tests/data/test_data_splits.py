"""Hash splits: the builder's train/val/test and training's 90/10 fallback come from one rule,
a clip's split depends on its id alone, and the shares are honoured."""

from __future__ import annotations

from collections import Counter

from affectgpt.data.splits import assign_split, hash_bucket, hash_split
from affectgpt.train.data import _hash_split

IDS = [f"sample_{i:05d}" for i in range(4000)]


def test_assign_split_follows_the_ratios_and_the_bucket_order():
    splits = [assign_split(clip_id, (0.8, 0.1, 0.1)) for clip_id in IDS]
    counts = Counter(splits)
    assert abs(counts["train"] / len(IDS) - 0.8) < 0.03 and abs(counts["test"] / len(IDS) - 0.1) < 0.03
    for clip_id, split in zip(IDS, splits):
        bucket = hash_bucket(clip_id)
        assert split == ("train" if bucket < 0.8 else "val" if bucket < 0.9 else "test")
    assert {assign_split(clip_id, (1.0, 0.0, 0.0)) for clip_id in IDS[:200]} == {"train"}


def test_training_fallback_puts_the_lowest_tenth_in_val():
    for clip_id in IDS:
        assert _hash_split(clip_id) == ("val" if hash_bucket(clip_id) < 0.1 else "train")
    assert hash_split("anything", (("only", 0.0),)) == "only"  # the last split takes the rest


def test_bucket_is_the_sha256_prefix():
    assert hash_bucket("sample_00000") == int("afcf361c", 16) / 0xFFFFFFFF  # pinned: splits never move
