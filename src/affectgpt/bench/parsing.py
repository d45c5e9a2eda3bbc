"""Turn a label field (a list, or a string such as "['happy', 'sad']") into normalised labels,
and a sentiment prediction into positive or not.

Two parsers, one per scoring mode (`affectgpt.bench.mode` pairs each with its other rules). `official` reproduces the AffectGPT scorer byte for byte,
including its habit of splitting on apostrophes ("don't care" -> "don", "t care"); `corrected`
reads list literals properly, keeps apostrophes and uses the typographic apostrophe that the
word-form table spells ("don’t care").
"""

from __future__ import annotations

import math
import re
from typing import Any

_OFFICIAL_SPLIT = re.compile("['\",]")
# Characters a free-form list tends to wrap labels in; never part of a table word.
_EDGE_PUNCTUATION = " \t\r\n.;:!?()[]{}<>*`\"'"


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def official_string_to_list(value: Any) -> list[str]:
    """The official `string_to_list`: a list is used as given; a string loses one leading "["
    and one trailing "]", is split on `,`, `'` and `"`, pieces stripped, empties dropped."""
    if type(value) is str and value:  # fast path: most fields are non-empty strings
        text = value[1:] if value[0] == "[" else value
        if text and text[-1] == "]":
            text = text[:-1]
        return [piece.strip() for piece in _OFFICIAL_SPLIT.split(text) if piece.strip() not in ("", ",")]
    if hasattr(value, "tolist") and not isinstance(value, str):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [str(item) for item in value]
    if _is_missing(value) or value == "":
        return []
    text = str(value)
    if text[0] == "[":
        text = text[1:]
    if text and text[-1] == "]":  # the official code indexes text[-1] unguarded; "[" alone crashed it
        text = text[:-1]
    return [piece.strip() for piece in _OFFICIAL_SPLIT.split(text) if piece.strip() not in ("", ",")]


def official_labels(value: Any) -> list[str]:
    """Official parse followed by the scorer's `item.lower().strip()`."""
    return [item.lower().strip() for item in official_string_to_list(value)]


def corrected_labels(value: Any) -> list[str]:
    """Parse list literals (JSON or Python) as lists, otherwise split on commas only; then
    lower-case, collapse whitespace, trim edge punctuation and spell apostrophes as the word-form
    table does (U+2019), so "don't care" stays one label and matches the table."""
    if hasattr(value, "tolist") and not isinstance(value, str):
        value = value.tolist()
    if _is_missing(value):
        return []
    if isinstance(value, (list, tuple)):
        items = [str(item) for item in value if not _is_missing(item)]
    else:
        items = _split_corrected(str(value))
    labels = []
    for item in items:
        label = " ".join(item.replace("'", "\u2019").lower().split()).strip(_EDGE_PUNCTUATION + "\u2019")
        if label:
            labels.append(label)
    return labels


_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"|\'((?:[^\'\\]|\\.)*)\'')


def _split_corrected(text: str) -> list[str]:
    """A quoted list ("['a', \"don't care\"]", JSON or Python repr) yields its quoted items;
    anything else is split on commas."""
    stripped = text.strip()
    if stripped.startswith("[") and stripped.endswith("]"):
        stripped = stripped[1:-1]
        if '"' in stripped or stripped.lstrip().startswith("'"):
            items = [double or single for double, single in _QUOTED.findall(stripped)]
            if items:
                return items
    return stripped.split(",")


_SENTIMENT_EDGE = " \t\r\n.;:!?\"'[]()`*"


def official_sentiment_is_positive(pred: Any) -> bool:
    """Official: only the exact string "positive" counts."""
    return pred == "positive"


def corrected_sentiment_is_positive(pred: Any) -> bool:
    """Corrected: case, surrounding whitespace/punctuation and a one-item list ("[Positive]")
    are forgiven."""
    if isinstance(pred, (list, tuple)):
        pred = pred[0] if len(pred) == 1 else ""
    return isinstance(pred, str) and pred.strip(_SENTIMENT_EDGE).lower() == "positive"
