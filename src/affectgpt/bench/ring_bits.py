"""Ring words as bits: the encoding the OV and HIT metrics compute on.

A label maps to one ring word per emotion wheel; here each wheel's ring words are bits of a
64-bit field, and the five fields are packed into one int, so a label list is one OR per label,
a set intersection an AND and its size a popcount. The metrics (`affectgpt.bench.metrics`) and
their columnar fast path (`affectgpt.bench.ov_masks`) both build on this module, which is why
it is its own: neither has to import the other for it.
"""

from __future__ import annotations

from functools import cache

from affectgpt.bench.wheels import WHEEL_NAMES, load_wheels

FIELD_BITS = 64  # bits per wheel in a packed mask (a wheel has at most 48 ring words)
FIELD_MASK = (1 << FIELD_BITS) - 1
SHIFTS = tuple(FIELD_BITS * w for w in range(5))


@cache
def bit_tables(version: str, level: int) -> tuple[dict[str, int], tuple[tuple[str, ...], ...]]:
    """label -> one int holding a 64-bit ring-word mask per wheel, and per wheel the ring word
    of each bit. Packing the 5 wheels into one int makes a label list one OR per label."""
    wheels = load_wheels(version)
    ring_words = tuple(tuple(wheels.ring_words(name, level)) for name in WHEEL_NAMES)
    bit_of = [{word: 1 << i for i, word in enumerate(words)} for words in ring_words]
    table = {}
    for label in wheels.format_to_bases:
        mapped = wheels.map_label_all(label, level)
        table[label] = sum(bit_of[w][m] << SHIFTS[w] for w, m in enumerate(mapped) if m is not None)
    return table, ring_words


def packed(labels: list[str], table: dict[str, int]) -> int:
    """The packed mask of a label list (labels outside the table add nothing)."""
    mask = 0
    for label in labels:
        mask |= table.get(label, 0)
    return mask


def masks(labels: list[str], table: dict[str, int]) -> list[int]:
    """The label list's mask per wheel."""
    whole = packed(labels, table)
    return [whole >> shift & FIELD_MASK for shift in SHIFTS]


def words(mask: int, ring_words: tuple[str, ...]) -> list[str]:
    """The ring words whose bits are set in one wheel's mask."""
    return [word for i, word in enumerate(ring_words) if mask >> i & 1]
