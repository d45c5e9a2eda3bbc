"""Per-sample scoring details written to a file as they are produced (`bench score --samples`).

Details of 100k samples are ten times the size of the input; streaming them keeps memory flat
and leaves the default `bench score` (aggregate scores only) fast. JSONL gets one object per
line; Parquet gets flat columns with the nested per-wheel details as a JSON string, written in
row groups. Both are written to a temporary name and renamed when complete, so a crash never
leaves a half file under the requested name.

    with SampleDetailsWriter(Path("details.parquet"), task="ov") as sink:
        score_task("ov", samples, keep_samples=False, sample_sink=sink)
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Self

from affectgpt.errors import BadInput
from affectgpt.jsonline import nan_to_none

SUFFIXES = (".jsonl", ".parquet")
_ROW_GROUP = 10_000


class SampleDetailsError(BadInput, ValueError):
    """The details file cannot be written as asked (unknown suffix)."""


def _parquet_schema(task: str):
    import pyarrow as pa

    if task == "sentiment":
        return pa.schema([("name", pa.string()), ("gt", pa.float64()), ("pred", pa.string()),
                          ("scored", pa.bool_()), ("y_true", pa.int8()), ("y_pred", pa.int8())])
    return pa.schema([("name", pa.string()), ("gt", pa.list_(pa.string())), ("pred", pa.list_(pa.string())),
                      ("wheels", pa.string())])


class SampleDetailsWriter:
    """A `SampleSink` (callable taking one detail dict) that writes JSONL or Parquet by suffix."""

    def __init__(self, path: str | Path, task: str) -> None:
        self.path = Path(path)
        self.task = task
        self.format = self.path.suffix.lower()
        if self.format not in SUFFIXES:
            raise SampleDetailsError(f"{self.path}: per-sample details are written as .jsonl or .parquet; "
                                     f"name the file with one of those suffixes")
        self.tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        self.rows = 0
        self._buffer: list[dict[str, Any]] = []
        self._handle = None
        self._parquet = None

    def __enter__(self) -> Self:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.format == ".jsonl":
            self._handle = open(self.tmp, "w", encoding="utf-8")
        else:
            import pyarrow.parquet as pq

            self._parquet = pq.ParquetWriter(self.tmp, _parquet_schema(self.task))
        return self

    def __call__(self, record: dict[str, Any]) -> None:
        self.rows += 1
        if self._handle is not None:
            self._handle.write(json.dumps(nan_to_none(record), ensure_ascii=False) + "\n")
            return
        if self.task != "sentiment":
            record = {**record, "wheels": json.dumps(nan_to_none(record["wheels"]), ensure_ascii=False)}
        elif isinstance(record.get("pred"), (list, tuple)):
            record = {**record, "pred": json.dumps(record["pred"], ensure_ascii=False)}
        self._buffer.append(record)
        if len(self._buffer) >= _ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        if self._buffer:
            self._parquet.write_table(pa.Table.from_pylist(self._buffer, schema=self._parquet.schema))
            self._buffer = []

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if self._handle is not None:
                self._handle.close()
            else:
                if exc_type is None:
                    self._flush()
                self._parquet.close()
        finally:
            if exc_type is None:
                self.tmp.replace(self.path)
            else:
                self.tmp.unlink(missing_ok=True)
