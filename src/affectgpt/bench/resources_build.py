"""Build the bundled emotion-wheel tables from a MERTools checkout (xlsx -> CSV, stdlib only).

The scorer never parses xlsx at run time: this converter runs once when the tables are
refreshed and writes plain CSVs under `affectgpt/bench/resources/emotion_wheel/`, plus a
`SOURCES.json` with the origin and hashes, so a reader can check what is bundled.

    python -m affectgpt.bench.resources_build /path/to/MERTools [--out DIR]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import re
import shutil
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

RESOURCES_DIR = Path(__file__).resolve().parent / "resources" / "emotion_wheel"
MERTOOLS_REPO = "zeroQiaoba/MERTools"
MERTOOLS_COMMIT = "89120b780ab18b28349f0e37dcc12b8cc253cb02"

# bundled name -> path inside MERTools (Apache-2.0 part of the repository)
XLSX_TABLES = {
    **{f"wheel{i}.csv": f"MER2026/MER2026_Track2/emotion_wheel/wheel{i}.xlsx" for i in range(1, 6)},
    "synonym.csv": "MER2026/MER2026_Track2/emotion_wheel/synonym.xlsx",
}
CSV_TABLES = {
    "format-mer2025.csv": "MER2025/MER2025_Track23/emotion_wheel/format.csv",
    "format-mer2026.csv": "MER2026/MER2026_Track2/emotion_wheel/format.csv",
}

_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"


def read_xlsx_rows(path: str | Path) -> list[list[str]]:
    """Cell text of the first worksheet, blank cells as "" (xlsx is a zip of XML; no openpyxl)."""
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        shared: list[str] = []
        if "xl/sharedStrings.xml" in names:
            root = ET.fromstring(archive.read("xl/sharedStrings.xml"))
            for item in root.iter(f"{_NS}si"):
                shared.append("".join(node.text or "" for node in item.iter(f"{_NS}t")))
        sheet_name = sorted(n for n in names if re.fullmatch(r"xl/worksheets/sheet\d+\.xml", n))[0]
        sheet = ET.fromstring(archive.read(sheet_name))
    rows: list[dict[int, str]] = []
    for row in sheet.iter(f"{_NS}row"):
        cells: dict[int, str] = {}
        for cell in row.findall(f"{_NS}c"):
            column = _column_index(re.match(r"[A-Z]+", cell.get("r", "A")).group())
            kind = cell.get("t")
            value = cell.find(f"{_NS}v")
            if kind == "s":
                text = shared[int(value.text)]
            elif kind == "inlineStr":
                text = "".join(node.text or "" for node in cell.iter(f"{_NS}t"))
            else:
                text = value.text if value is not None and value.text is not None else ""
            cells[column] = text
        rows.append(cells)
    width = max((max(r) + 1 for r in rows if r), default=0)
    return [[r.get(i, "") for i in range(width)] for r in rows]


def _column_index(letters: str) -> int:
    index = 0
    for letter in letters:
        index = index * 26 + (ord(letter) - ord("A") + 1)
    return index - 1


def build(mertools_dir: str | Path, out_dir: str | Path = RESOURCES_DIR) -> dict[str, str]:
    """Convert/copy every bundled table from `mertools_dir`; returns bundled name -> sha256."""
    mertools = Path(mertools_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sources: dict[str, dict[str, str]] = {}
    for name, rel in XLSX_TABLES.items():
        source = mertools / rel
        if not source.is_file():
            raise FileNotFoundError(f"{source}: missing; point at a MERTools checkout at {MERTOOLS_COMMIT}")
        with open(out / name, "w", newline="", encoding="utf-8") as handle:
            csv.writer(handle, lineterminator="\n").writerows(read_xlsx_rows(source))
        sources[name] = {"from": rel}
    for name, rel in CSV_TABLES.items():
        source = mertools / rel
        if not source.is_file():
            raise FileNotFoundError(f"{source}: missing; point at a MERTools checkout at {MERTOOLS_COMMIT}")
        shutil.copyfile(source, out / name)
        sources[name] = {"from": rel}
    hashes = {}
    for name in sources:
        digest = hashlib.sha256((out / name).read_bytes()).hexdigest()
        sources[name]["sha256"] = digest
        hashes[name] = digest
    meta = {"repository": MERTOOLS_REPO, "commit": MERTOOLS_COMMIT, "license": "Apache-2.0", "files": sources}
    (out / "SOURCES.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return hashes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mertools_dir", help="a MERTools checkout (or the reference-data copy of it)")
    parser.add_argument("--out", default=str(RESOURCES_DIR))
    args = parser.parse_args()
    for name, digest in build(args.mertools_dir, args.out).items():
        print(f"{name:22s} {digest}")


if __name__ == "__main__":
    main()
