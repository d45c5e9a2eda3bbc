"""Rule-based label extraction: emotion words of the wheel vocabulary found in free text.

The default judge where no LLM is available: no network, deterministic, thousands of texts per
second. It matches the longest vocabulary phrase at each position ("at a loss for words" before
"loss"), drops a match that a negation cue governs ("not happy", "without any anger", "isn't
worried"), and ignores words whose usual sense in a description is not an emotion ("facial",
"content", "open").
"""

from __future__ import annotations

import hashlib
import re
from functools import cached_property

from affectgpt.bench.mode import CORRECTED
from affectgpt.bench.wheels import load_wheels

LEXICON_VERSION = "1"

_TOKEN = re.compile(r"[a-z]+(?:[’-][a-z]+)*|[.;:!?,()\"“”]")
_BOUNDARY_PUNCTUATION = frozenset(".;:!?,()\"“”")
# Words that end the scope of a negation even without punctuation.
_BOUNDARY_WORDS = frozenset({"but", "though", "although", "however", "yet", "while", "whereas", "instead"})
NEGATION_CUES = frozenset({
    "not", "no", "never", "without", "hardly", "barely", "neither", "nor", "cannot", "lack", "lacks",
    "lacking", "absence", "free", "nothing", "none",
})
NEGATION_WINDOW = 3  # tokens before the emotion word that a cue may sit in

# Vocabulary entries whose common sense in a description is not an emotional state.
STOP_WORDS = frozenset({
    "face", "faces", "faced", "facing", "facial", "person", "persons", "emotion", "emotions", "emotional",
    "emotionally", "see", "sees", "seen", "seeing", "saw", "content", "contents", "open", "opens", "opened",
    "opening", "slight", "slightly", "certain", "certainly", "left", "leave", "leaves", "determine",
    "determined", "determines", "direct", "directed", "directly", "directs", "move", "moves", "moved",
    "moving", "fixed", "fix", "evaluation", "evaluate", "go", "goes", "going", "gone", "went", "strong",
    "strongly", "information", "quick", "quickly", "important", "importantly", "lack", "lacks", "lacking",
    "analyze", "analyzing", "support", "supports", "supported", "supporting", "question", "questions",
    "think", "thinks", "thinking", "thought", "attentively", "negative", "negatively", "character",
    "expression", "expressions", "express", "expressed", "expresses", "expressing", "tone", "voice",
    "state", "states", "feel", "feels", "feeling", "feelings", "felt",
})


def tokenize(text: str) -> list[str]:
    """Lower-cased word and punctuation tokens; apostrophes spelled as in the word-form table."""
    return _TOKEN.findall(text.lower().replace("'", "’").replace("`", "’"))


class LexiconExtractor:
    """Finds emotion words of the wheel vocabulary (and their word forms) in a text."""

    name = "lexicon"
    version = LEXICON_VERSION

    def __init__(self, wheels_version: str = "mer2026", negation: bool = True, stop_words=STOP_WORDS):
        self.wheels = load_wheels(wheels_version)
        self.negation = negation
        self.stop_words = frozenset(stop_words)
        self._phrases: dict[tuple[str, ...], str] = {}
        for entry in self.wheels.vocabulary():
            if entry in self.stop_words:
                continue
            tokens = tuple(t for t in tokenize(entry) if t not in _BOUNDARY_PUNCTUATION)
            if tokens:
                self._phrases.setdefault(tokens, entry)
        self._longest = max(len(tokens) for tokens in self._phrases)

    @cached_property
    def prompt_hash(self) -> str:
        """Identity of the rule set: table version, stop words, negation settings."""
        spec = "|".join([
            self.wheels.version, str(self.negation), ",".join(sorted(self.stop_words)),
            ",".join(sorted(NEGATION_CUES)), str(NEGATION_WINDOW),
        ])
        return hashlib.sha256(spec.encode()).hexdigest()[:16]

    def info(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version, "prompt_hash": self.prompt_hash}

    def _negated(self, tokens: list[str], start: int) -> bool:
        for back in range(1, NEGATION_WINDOW + 1):
            position = start - back
            if position < 0:
                return False
            token = tokens[position]
            if token in _BOUNDARY_PUNCTUATION or token in _BOUNDARY_WORDS:
                return False
            if token in NEGATION_CUES or token.endswith("n’t"):
                return True
        return False

    def extract_labels(self, text: str) -> list[str]:
        """Emotion words in order of first appearance, without duplicates or negated ones."""
        if not isinstance(text, str) or not text:
            return []
        tokens = tokenize(text)
        found: list[str] = []
        seen: set[str] = set()
        position = 0
        while position < len(tokens):
            for length in range(min(self._longest, len(tokens) - position), 0, -1):
                entry = self._phrases.get(tuple(tokens[position:position + length]))
                if entry is None:
                    continue
                if not (self.negation and self._negated(tokens, position)) and entry not in seen:
                    seen.add(entry)
                    found.append(entry)
                position += length
                break
            else:
                position += 1
        return found

    def extract_sentiment(self, text_or_labels) -> str:
        """positive / negative / neutral from the sum of the labels' wheel polarities."""
        if isinstance(text_or_labels, str) and not text_or_labels.lstrip().startswith("["):
            labels = self.extract_labels(text_or_labels)
        else:
            labels = CORRECTED.parse(text_or_labels)
        total = sum(self.wheels.polarity(label) for label in labels)
        return "positive" if total > 0 else "negative" if total < 0 else "neutral"
