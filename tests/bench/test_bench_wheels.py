"""Emotion wheels: bundled tables, the mapping chain, and label agreement."""

from __future__ import annotations

import csv
import io
import json

import pytest

from affectgpt.bench import resources_build
from affectgpt.bench.wheels import RESOURCES_DIR, WHEEL_NAMES, labels_agree, load_wheels, vocabulary

WHEEL_DIR = "MER2026/MER2026_Track2/emotion_wheel"


def test_bundled_tables_equal_a_fresh_conversion_of_the_xlsx(mertools):
    for name, rel in resources_build.XLSX_TABLES.items():
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(resources_build.read_xlsx_rows(mertools / rel))
        assert (RESOURCES_DIR / name).read_text(encoding="utf-8") == buffer.getvalue(), name
    for name, rel in resources_build.CSV_TABLES.items():
        assert (RESOURCES_DIR / name).read_bytes() == (mertools / rel).read_bytes(), name
    sources = json.loads((RESOURCES_DIR / "SOURCES.json").read_text())
    assert sources["commit"] == resources_build.MERTOOLS_COMMIT


def test_lookup_equals_the_published_wheel_mapping(mertools):
    published = json.loads((mertools / WHEEL_DIR / "wheel_mapping.json").read_text())
    wheels = load_wheels("mer2026")
    assert {k: sorted(v) for k, v in published["format_mapping"].items()} == {
        k: sorted(v) for k, v in wheels.format_to_bases.items()
    }
    assert {k: sorted(set(v)) for k, v in published["raw_mapping"].items()} == {
        k: list(v) for k, v in wheels.base_to_wheel_words.items()
    }
    for name in WHEEL_NAMES:
        for level in (1, 2):
            assert published["wheel_map_whole"][name][f"level{level}"] == wheels.ring_maps[(name, level)]


def test_mapping_chain_on_hand_made_cases():
    wheels = load_wheels("mer2026")
    assert wheels.map_label("happy", "wheel1") == "happy"
    assert wheels.map_label("cheerful", "wheel1") == "happy"  # synonym of a wheel word
    assert wheels.map_label("angrily", "wheel1") == "mad"  # word form -> base -> wheel
    assert wheels.map_label("anger", "wheel4") == "anger"
    assert wheels.map_label("insulated", "wheel1") == "mad"  # blank level-1 cell continues "Mad"
    assert wheels.map_label("insulated", "wheel1", level=2) == "offended"
    assert wheels.map_label("mad", "wheel1", level=2) == "aggressive"  # level-1 word: first level-2 child
    assert wheels.map_label("neutral", "wheel1") is None
    assert wheels.map_label("qwerty", "wheel3") is None
    assert wheels.map_label("Happy", "wheel1") is None  # map_label takes normalised labels
    assert wheels.map_labels("['Happy', 'cheerful', 'qwerty']", "wheel1") == {"happy"}
    assert len(vocabulary()) == 7356
    with pytest.raises(ValueError, match="wheel9"):
        wheels.map_label("happy", "wheel9")


def test_mer2025_and_mer2026_word_form_tables_differ_where_documented():
    assert load_wheels("mer2025").map_label("help", "wheel1") == "sad"  # help -> helpless
    assert load_wheels("mer2026").map_label("help", "wheel1") is None
    assert "fearless" in load_wheels("mer2025").format_to_bases["fear"]
    assert "fearless" not in load_wheels("mer2026").format_to_bases["fear"]


def test_labels_agree():
    assert labels_agree(["happy"], ["cheerful", "sad"])
    assert not labels_agree(["happy"], ["angry"])
    assert labels_agree([], [])  # both neutral
    assert not labels_agree([], ["happy"])
    assert labels_agree([], ["neutral"])
    assert not labels_agree(["qwerty"], ["happy"])
    assert labels_agree("['worried']", "[anxious]")
