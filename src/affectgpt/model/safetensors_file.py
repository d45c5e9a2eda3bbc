"""Check a safetensors file's framing before a loader trusts it, so a damaged or foreign file is
one sentence and not a loader's traceback (or an attempt to allocate what its first bytes claim).

A safetensors file is an 8-byte little-endian header length, a JSON header (tensor name ->
dtype, shape, `data_offsets`), then the tensor bytes those offsets point into. The check reads
the 8 bytes and the header only, never a tensor.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

# The format's own ceiling on a header (the safetensors loader refuses larger ones): a length
# above it is damage, and it is refused before a byte of the header is read.
MAX_HEADER_BYTES = 100_000_000


def _data_end(header: object) -> int:
    """Where the header says the tensor bytes end; TypeError or ValueError when it is not a tensor
    table."""
    if not isinstance(header, dict):
        raise TypeError(f"header is a JSON {type(header).__name__}, not an object of tensors")
    end = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
                or not 0 <= offsets[0] <= offsets[1]):
            raise ValueError(f"tensor {name!r} has no valid data_offsets")
        end = max(end, offsets[1])
    return end


def safetensors_problem(path: Path) -> str | None:
    """None when `path` is framed as a whole safetensors file, else what is wrong (without the
    file's name: the caller says which file it was reading)."""
    size = path.stat().st_size
    if size < 8:
        return ("empty file (0 bytes)" if size == 0 else
                f"{size} bytes, shorter than the 8-byte header length of a safetensors file")
    with open(path, "rb") as handle:
        (header_len,) = struct.unpack("<Q", handle.read(8))
        if header_len > size - 8:
            return f"header length says {header_len} bytes but the file has {size}"
        if header_len > MAX_HEADER_BYTES:
            return f"header length says {header_len} bytes, above the format's {MAX_HEADER_BYTES}"
        raw_header = handle.read(header_len)
    try:
        end = _data_end(json.loads(raw_header.decode("utf-8")))
    except (ValueError, TypeError, RecursionError) as exc:
        return f"unreadable safetensors header ({exc})"
    if 8 + header_len + end != size:
        return f"truncated or padded ({size} bytes, header describes {8 + header_len + end})"
    return None
