"""The five emotion wheels and the lookup that maps any emotion word onto a wheel ring.

A label goes word form -> base words (format table; a base word maps to itself) -> wheel words
(union of the 8 synonym runs) -> the alphabetically first candidate present in wheel W -> its
level-1 ring word (or level-2 word). Unknown words map to nothing. This is the official
AffectGPT / MER-UniBench mapping; the tables ship with the package (see NOTICE) and the whole
lookup is precomputed once per table version, so scoring is a dict lookup per label.

    from affectgpt.bench.wheels import load_wheels
    wheels = load_wheels("mer2026")
    wheels.map_label("cheerful", "wheel1", 1)   # -> "happy"
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from affectgpt.bench.mode import ScorerMode, scorer_mode
from affectgpt.bench.parsing import official_string_to_list

RESOURCES_DIR = Path(__file__).resolve().parent / "resources" / "emotion_wheel"
WHEEL_NAMES: tuple[str, ...] = ("wheel1", "wheel2", "wheel3", "wheel4", "wheel5")
LEVELS: tuple[int, ...] = (1, 2)
VERSIONS: tuple[str, ...] = ("mer2025", "mer2026")
SYNONYM_RUNS = 8

# Level-1 ring words and the sentiment they carry (used by the lexicon extractor's
# sentiment rule; the official pipeline asks an LLM instead).
RING_POLARITY: dict[str, int] = {
    "happy": 1, "joyful": 1, "joy": 1, "powerful": 1, "peaceful": 1, "genius": 1,
    "mad": -1, "angry": -1, "anger": -1, "disgusted": -1, "disgust": -1, "sad": -1,
    "scared": -1, "fearful": -1, "fear": -1, "bad": -1,
    "surprised": 0,
}


@dataclass(frozen=True)
class EmotionWheels:
    """Lookup tables for one table version. Build with `load_wheels`, not directly."""

    version: str
    format_to_bases: dict[str, tuple[str, ...]]
    base_to_wheel_words: dict[str, tuple[str, ...]]
    trees: dict[str, dict[str, dict[str, list[str]]]]  # wheel -> level1 -> level2 -> level3 words
    ring_maps: dict[tuple[str, int], dict[str, str]]  # (wheel, level) -> wheel word -> ring word
    # label -> ring word per wheel (None when unmapped), one tuple per level
    _mapped: dict[int, dict[str, tuple[str | None, ...]]] = field(repr=False)

    # -- single labels ------------------------------------------------------------------
    def map_label(self, label: str, wheel: str, level: int = 1) -> str | None:
        """Ring word of `label` on `wheel` at `level`, or None when the label is unknown or
        none of its wheel words sits on that wheel. `label` is used as given (normalise first)."""
        mapped = self._mapped[_check_level(level)].get(label)
        return None if mapped is None else mapped[_wheel_index(wheel)]

    def map_label_all(self, label: str, level: int = 1) -> tuple[str | None, ...] | None:
        """Ring words of `label` on all five wheels (None when the label is unknown)."""
        return self._mapped[_check_level(level)].get(label)

    def map_labels(self, labels, wheel: str, level: int = 1, mode: ScorerMode | str = "official") -> set[str]:
        """Set of ring words for a label list (or list-like string), unknown words dropped."""
        index = _wheel_index(wheel)
        table = self._mapped[_check_level(level)]
        out = set()
        for label in scorer_mode(mode).parse(labels):
            mapped = table.get(label)
            if mapped is not None and mapped[index] is not None:
                out.add(mapped[index])
        return out

    def ring_words(self, wheel: str, level: int = 1) -> list[str]:
        """All ring words of a wheel at a level, sorted."""
        return sorted(set(self.ring_maps[(wheel, _check_level(level))].values()))

    def vocabulary(self) -> set[str]:
        """Every word the mapping knows: base emotion words and all their word forms."""
        return set(self.format_to_bases)

    def polarity(self, label: str) -> int:
        """+1 / -1 / 0: majority sentiment of the label's level-1 ring words over the wheels."""
        mapped = self._mapped[1].get(label)
        if mapped is None:
            return 0
        total = sum(RING_POLARITY.get(word, 0) for word in mapped if word is not None)
        return (total > 0) - (total < 0)


def _check_level(level: int) -> int:
    if level not in LEVELS:
        raise ValueError(f"wheel level must be 1 or 2, got {level!r}")
    return level


def _wheel_index(wheel: str) -> int:
    try:
        return WHEEL_NAMES.index(wheel)
    except ValueError:
        raise ValueError(f"unknown wheel {wheel!r}; use one of {', '.join(WHEEL_NAMES)}") from None


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def read_format_table(path: Path) -> dict[str, list[str]]:
    """Word form -> base words, as the official `read_format2raws` builds it (duplicates kept)."""
    format_to_bases: dict[str, list[str]] = {}
    for row in _read_csv(path):
        base = row["name"]
        for form in official_string_to_list(row["format"]):
            format_to_bases.setdefault(form, []).append(base)
        format_to_bases.setdefault(base, []).append(base)
    return format_to_bases


def read_synonym_table(path: Path) -> dict[str, set[str]]:
    """Base word -> wheel words, the union of the 8 synonym runs (each wheel word maps to itself)."""
    rows = _read_csv(path)
    merged: dict[str, set[str]] = {}
    for run in range(1, SYNONYM_RUNS + 1):
        for row in rows:
            word = row[f"word_run{run}"].strip().lower()
            merged.setdefault(word, set()).add(word)
            for synonym in official_string_to_list(row[f"synonym_run{run}"]):
                merged.setdefault(synonym.strip().lower(), set()).add(word)
    return merged


def read_wheel(path: Path) -> dict[str, dict[str, list[str]]]:
    """level1 -> level2 -> level3 words; a blank cell continues the cell above it."""
    tree: dict[str, dict[str, list[str]]] = {}
    level1 = level2 = level3 = ""
    for row in _read_csv(path):
        level1 = row["level1"] or level1
        level2 = row["level2"] or level2
        level3 = row["level3"] or level3
        level1, level2, level3 = (value.lower().strip() for value in (level1, level2, level3))
        tree.setdefault(level1, {}).setdefault(level2, []).append(level3)
    return tree


def ring_map(tree: dict[str, dict[str, list[str]]], level: int) -> dict[str, str]:
    """Wheel word -> its level-1 word, or its level-2 word (a level-1 word goes to its
    alphabetically first level-2 child, as in the official code)."""
    mapping: dict[str, str] = {}
    for level1, children in tree.items():
        mapping[level1] = level1 if level == 1 else sorted(children)[0]
        for level2, leaves in children.items():
            mapping[level2] = level1 if level == 1 else level2
            for level3 in leaves:
                mapping[level3] = level1 if level == 1 else level2
    return mapping


def _first_on_ring(candidates: list[str], ring: dict[str, str]) -> str | None:
    for candidate in candidates:  # sorted: the alphabetically first wheel word wins
        if candidate in ring:
            return ring[candidate]
    return None


@cache
def load_wheels(version: str = "mer2026") -> EmotionWheels:
    """The wheels with the `version` word-form table ("mer2025" or "mer2026"); built once per
    process (about 0.1 s) from the bundled CSVs."""
    if version not in VERSIONS:
        raise ValueError(f"unknown wheel table version {version!r}; use one of {', '.join(VERSIONS)}")
    format_to_bases = read_format_table(RESOURCES_DIR / f"format-{version}.csv")
    base_to_wheel_words = read_synonym_table(RESOURCES_DIR / "synonym.csv")
    trees = {name: read_wheel(RESOURCES_DIR / f"{name}.csv") for name in WHEEL_NAMES}
    ring_maps = {(name, level): ring_map(trees[name], level) for name in WHEEL_NAMES for level in LEVELS}
    candidates = {
        label: sorted(word for base in bases for word in base_to_wheel_words.get(base, ()))
        for label, bases in format_to_bases.items()
    }
    mapped: dict[int, dict[str, tuple[str | None, ...]]] = {}
    for level in LEVELS:
        rings = [ring_maps[(name, level)] for name in WHEEL_NAMES]
        mapped[level] = {
            label: tuple(_first_on_ring(words, ring) for ring in rings) for label, words in candidates.items()
        }
    return EmotionWheels(
        version=version,
        format_to_bases={k: tuple(v) for k, v in format_to_bases.items()},
        base_to_wheel_words={k: tuple(sorted(v)) for k, v in base_to_wheel_words.items()},
        trees=trees,
        ring_maps=ring_maps,
        _mapped=mapped,
    )


def vocabulary(version: str = "mer2026") -> set[str]:
    """All emotion words and word forms the scorer knows (the lexicon extractor's vocabulary)."""
    return load_wheels(version).vocabulary()


def map_label(label: str, wheel: str, level: int = 1, version: str = "mer2026") -> str | None:
    return load_wheels(version).map_label(label, wheel, level)


def map_labels(labels, wheel: str, level: int = 1, version: str = "mer2026",
               mode: ScorerMode | str = "official") -> set[str]:
    return load_wheels(version).map_labels(labels, wheel, level, mode)


def _agreement_set(labels, wheels: EmotionWheels, index: int, mode: ScorerMode) -> set[str]:
    parsed = mode.parse(labels)
    if not parsed:
        return {"neutral"}
    table = wheels._mapped[1]
    out = {m[index] for m in (table.get(label) for label in parsed) if m is not None and m[index] is not None}
    if "neutral" in parsed:
        out.add("neutral")
    return out


def labels_agree(a, b, version: str = "mer2026", mode: ScorerMode | str = "official") -> bool:
    """True when two label lists share a level-1 ring word on at least one of the 5 wheels.
    An empty list stands for `neutral` (so two empty lists agree, and an empty list agrees with
    ["neutral"]); a non-empty list that maps to nothing agrees with nothing. This is the
    official `hit_or_not` used to filter coarse descriptions."""
    mode = scorer_mode(mode)
    wheels = load_wheels(version)
    for index in range(len(WHEEL_NAMES)):
        if _agreement_set(a, wheels, index, mode) & _agreement_set(b, wheels, index, mode):
            return True
    return False
