"""Ring-word masks of whole label columns for the aggregate OV score (no per-sample details).

`affectgpt.bench.metrics` defines the arithmetic; this module only makes its first step fast:
every label field becomes a 5 x 64-bit mask (one ring-word bit set per wheel), as
`ring_bits.packed(official_labels(value), table)` would, but for all samples at once. ASCII text
is split on bytes in numpy and stripped, lower-cased and looked up in Arrow; anything else
(non-ASCII text, odd types, corrected mode) goes through the Python parser, so the result is
the same for every input (tests compare the paths).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from affectgpt.bench import ring_bits
from affectgpt.bench.mode import ScorerMode
from affectgpt.bench.parsing import _OFFICIAL_SPLIT, official_labels


def _official_packer(table: dict[str, int]):
    """Packed ring-word mask of one label field under the official parse, memoised per raw
    piece: a piece's strip/lower/lookup happens once per distinct spelling, not per sample.
    Same result as `ring_bits.packed(official_labels(value), table)`."""
    memo: dict[str, int] = {}

    def piece_mask(piece: str) -> int:
        mask = memo.get(piece)
        if mask is None:
            mask = memo[piece] = table.get(piece.strip().lower().strip(), 0)
        return mask

    def pack(value: Any) -> int:
        if type(value) is str and value:
            text = value[1:] if value[0] == "[" else value
            if text and text[-1] == "]":
                text = text[:-1]
            pieces = _OFFICIAL_SPLIT.split(text)
        elif type(value) is list and all(type(item) is str for item in value):
            pieces = value
        else:
            return ring_bits.packed(official_labels(value), table)
        mask = 0
        for piece in pieces:
            mask |= piece_mask(piece)
        return mask

    return pack



_WIDTH_BYTES = 5 * ring_bits.FIELD_BITS // 8
_ARROW_CHUNK = 8_192
# What Python's str.strip() removes from ASCII text (it also counts \x1c-\x1f as whitespace).
_ASCII_WHITESPACE = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"


def mask_rows(values: list[Any], mode: ScorerMode, table: dict[str, int], table_key: tuple[str, int]):
    """(n, 5) uint64: per value, the ring-word mask on each wheel."""
    import numpy as np

    rows = np.zeros((len(values), 5), dtype=np.uint64)
    if mode.arrow_parse:  # the official parse: ASCII fields in Arrow, the rest memoised per piece
        todo = []
        for start in range(0, len(values), _ARROW_CHUNK):  # chunks bound the temporary arrays
            stop = start + _ARROW_CHUNK
            todo += [start + i for i in _official_mask_rows_arrow(values[start:stop], rows[start:stop], table_key)]
        pack = _official_packer(table)
    else:
        todo = range(len(values))
        parse = mode.parse

        def pack(value: Any) -> int:
            return ring_bits.packed(parse(value), table)

    if len(todo):
        packed = bytearray()
        for index in todo:
            packed += pack(values[index]).to_bytes(_WIDTH_BYTES, "little")
        rows[np.asarray(todo, dtype=np.int64)] = np.frombuffer(bytes(packed), dtype="<u8").reshape(-1, 5)
    return rows


def _arrow_strings(texts: list[str], ascii_only: bool = False):
    """An Arrow large_string array from Python strings, built from one buffer (pa.array would
    import pandas to inspect the list, which costs more than the scoring). ASCII text needs no
    per-string encoding: characters are bytes."""
    import numpy as np
    import pyarrow as pa

    if ascii_only:
        lengths, data = map(len, texts), "".join(texts).encode("ascii")
    else:
        encoded = [text.encode("utf-8") for text in texts]
        lengths, data = map(len, encoded), b"".join(encoded)
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(lengths, dtype=np.int64, count=len(texts)), out=offsets[1:])
    return pa.Array.from_buffers(pa.large_string(), len(texts), [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def _numpy_view(array, dtype):
    """The values of a fixed-width Arrow array as numpy (null slots hold arbitrary values),
    without Arrow's to_numpy/scalar helpers, which import pandas."""
    import numpy as np

    return np.frombuffer(array.buffers()[1], dtype=dtype)[array.offset:array.offset + len(array)]


@cache
def _vocabulary_masks(version: str, level: int):
    """The label table as Arrow strings and an (n + 1, 5) mask array; the last row (zeros)
    stands for labels the table does not know."""
    import numpy as np

    table, _ = ring_bits.bit_tables(version, level)
    labels = list(table)
    packed = b"".join(table[label].to_bytes(_WIDTH_BYTES, "little") for label in labels)
    masks = np.frombuffer(packed + bytes(_WIDTH_BYTES), dtype="<u8").reshape(-1, 5)
    return _arrow_strings(labels), masks


def _official_pieces_ascii(texts: list[str]):
    """`_official_pieces` of Python strings (ASCII: characters are bytes)."""
    import numpy as np

    data = np.frombuffer("".join(texts).encode("ascii"), dtype=np.uint8)
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)), out=offsets[1:])
    return _official_pieces(data, offsets)


def _official_pieces(data, offsets):
    """The official string_to_list split of back-to-back UTF-8 texts (text i is
    data[offsets[i]:offsets[i+1]]), on bytes in numpy: one leading "[" and then one trailing "]"
    dropped, split on `'`, `"` and `,` (ASCII bytes never occur inside a multi-byte character).
    Returns the pieces (an Arrow string array, unstripped, empties kept: they map to nothing) and,
    per text, the offsets of its pieces. Dropping the brackets and separators from the bytes
    leaves the pieces back to back, so they become one Arrow array without copying each."""
    import numpy as np
    import pyarrow as pa

    count = len(offsets) - 1
    starts, ends = offsets[:-1], offsets[1:]
    has_open = np.zeros(count, dtype=bool)
    filled = ends > starts
    has_open[filled] = data[starts[filled]] == ord("[")
    body_starts = starts + has_open
    has_close = np.zeros(count, dtype=bool)
    left = ends > body_starts
    has_close[left] = data[ends[left] - 1] == ord("]")
    body_ends = ends - has_close
    separators = np.flatnonzero((data == ord(",")) | (data == ord("'")) | (data == ord('"')))
    dropped = np.zeros(len(data), dtype=bool)
    dropped[starts[has_open]] = True
    dropped[ends[has_close] - 1] = True
    dropped[separators] = True
    before = np.zeros(len(data) + 1, dtype=np.int64)  # dropped bytes before each position
    np.cumsum(dropped.view(np.uint8), dtype=np.int64, out=before[1:])  # from bytes: bool->int64 is slow
    piece_starts = np.sort(np.concatenate((body_starts, separators + 1)))
    piece_ends = np.sort(np.concatenate((separators, body_ends)))
    piece_offsets = np.append(piece_starts - before[piece_starts], piece_ends[-1] - before[piece_ends[-1]])
    kept = np.ascontiguousarray(data[~dropped])
    pieces = pa.Array.from_buffers(pa.large_string(), len(piece_starts),
                                   [None, pa.py_buffer(piece_offsets), pa.py_buffer(kept)])
    per_text = np.bincount(np.searchsorted(starts, separators, side="right") - 1, minlength=count) + 1
    text_offsets = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(per_text, out=text_offsets[1:])
    return pieces, text_offsets


def _is_ascii_list(value: list) -> bool:
    """A list of ASCII strings (joining fails on any item that is not a string)."""
    try:
        return "".join(value).isascii()
    except TypeError:
        return False


def _official_mask_rows_arrow(values: list[Any], rows, table_key: tuple[str, int]) -> list[int]:
    """Fill `rows` for the values Arrow can parse exactly as the official code does: non-empty
    ASCII strings and lists of ASCII strings (for ASCII, Arrow's lower/trim equal Python's).
    Returns the indices left for the Python parser (other types, non-ASCII text)."""
    import numpy as np

    strings, lists, rest = [], [], []
    for index, value in enumerate(values):
        if type(value) is str and value and value.isascii():
            strings.append(index)
        elif type(value) is list and _is_ascii_list(value):
            lists.append(index)
        else:
            rest.append(index)
    parts = []  # (row indices, flat pieces, offsets of each row's pieces)
    if strings:
        parts.append((strings, *_official_pieces_ascii([values[i] for i in strings])))
    if lists:
        items = [values[i] for i in lists]
        offsets = np.zeros(len(items) + 1, dtype=np.int64)
        np.cumsum(np.fromiter(map(len, items), dtype=np.int64, count=len(items)), out=offsets[1:])
        parts.append((lists, _arrow_strings([piece for item in items for piece in item], ascii_only=True), offsets))
    for indices, flat, offsets in parts:
        rows[np.asarray(indices, dtype=np.int64)] = _ascii_label_masks(flat, offsets, table_key)
    return rest


def _ascii_label_masks(flat, offsets, table_key: tuple[str, int]):
    """(n, 5) masks: row i ORs the ring words of the labels flat[offsets[i]:offsets[i+1]],
    each label stripped and lower-cased as the official code does (exact for ASCII)."""
    import numpy as np

    # The kernels by name: importing pyarrow.compute wraps ~280 functions, a visible share of
    # a cold `bench score`.
    from pyarrow._compute import SetLookupOptions, TrimOptions, call_function

    vocabulary, masks = _vocabulary_masks(*table_key)
    # strip().lower().strip() in Python; on ASCII, lower() adds no whitespace: one trim does.
    flat = call_function("ascii_lower", [call_function("ascii_trim", [flat], TrimOptions(_ASCII_WHITESPACE))])
    # null where the table lacks the label
    found = call_function("index_in", [flat], SetLookupOptions(value_set=vocabulary))
    position = _numpy_view(found, np.int32).copy()
    if found.null_count:
        bits = np.unpackbits(np.frombuffer(found.buffers()[0], dtype=np.uint8), bitorder="little")
        position[bits[found.offset:found.offset + len(found)] == 0] = len(vocabulary)
    count = len(offsets) - 1
    reduced = np.zeros((count, 5), dtype=np.uint64)  # an empty list has no labels
    for first in range(0, count, _ARROW_CHUNK):  # chunks bound the (pieces, 5) temporary
        last = min(count, first + _ARROW_CHUNK)
        starts = offsets[first:last] - offsets[first]
        nonempty = starts < offsets[first + 1:last + 1] - offsets[first]
        if nonempty.any():
            # Segments between consecutive non-empty starts hold only that row's pieces.
            chunk = masks[position[offsets[first]:offsets[last]]]
            reduced[first:last][nonempty] = np.bitwise_or.reduceat(chunk, starts[nonempty], axis=0)
    return reduced


def _string_buffers(array):
    """(bytes as uint8, offsets as int64 relative to them) of an Arrow (large_)string array."""
    import numpy as np
    import pyarrow as pa

    dtype = np.int64 if pa.types.is_large_string(array.type) else np.int32
    offsets = np.frombuffer(array.buffers()[1], dtype=dtype)[array.offset:array.offset + len(array) + 1]
    offsets = offsets.astype(np.int64)
    data = np.frombuffer(array.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]]
    return data, offsets - offsets[0]


def list_items(column):
    """(the items, as one string array; per row, the offsets of its items) of an Arrow list
    array, read from its buffers (ListArray.flatten would import pyarrow.compute)."""
    import numpy as np
    import pyarrow as pa

    dtype = np.int64 if pa.types.is_large_list(column.type) else np.int32
    offsets = np.frombuffer(column.buffers()[1], dtype=dtype)[column.offset:column.offset + len(column) + 1]
    offsets = offsets.astype(np.int64)
    items = column.values.slice(int(offsets[0]), int(offsets[-1] - offsets[0]))
    return items, offsets - offsets[0]


def official_mask_rows_from_column(column, table: dict[str, int], table_key: tuple[str, int]):
    """(n, 5) masks of an Arrow column of label fields (strings or lists of strings, no nulls)
    under the official parse. Rows with non-ASCII text are redone in Python (lower/strip of
    non-ASCII characters is Python's to define)."""
    import numpy as np
    import pyarrow as pa

    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        data, offsets = _string_buffers(column)
        pieces, piece_offsets = _official_pieces(data, offsets)
        rows = _ascii_label_masks(pieces, piece_offsets, table_key)
        bad = np.unique(np.searchsorted(offsets, np.flatnonzero(data >= 0x80), side="right") - 1)
    else:
        items, list_offsets = list_items(column)
        rows = _ascii_label_masks(items, list_offsets, table_key)
        data, item_offsets = _string_buffers(items)
        bad_items = np.searchsorted(item_offsets, np.flatnonzero(data >= 0x80), side="right") - 1
        bad = np.unique(np.searchsorted(list_offsets, bad_items, side="right") - 1)
    if len(bad):
        pack = _official_packer(table)
        for index in bad.tolist():
            rows[index] = np.frombuffer(pack(column[index].as_py()).to_bytes(_WIDTH_BYTES, "little"), dtype="<u8")
    return rows
