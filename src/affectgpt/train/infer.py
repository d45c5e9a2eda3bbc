"""`predict`: batched generation over a data folder with a named decoding preset (`greedy`,
the default, or upstream's `official` sampling), written as the predictions JSONL that
`affectgpt bench run` scores.

One line per clip: `clip_id, dataset, prompt_type, decoding, output, extracted_labels,
extractor{name,version,prompt_hash}`; labels come from the pinned extractor so a score can be
traced to the exact label-extraction rules (and decoding preset) that produced it.

Beside `<name>.jsonl`, `<name>.source.json` says which data folder, records file and split(s)
were answered: `affectgpt bench run --datasets local` scores exactly those clips by default and
refuses gold labels from other data, where unasked clips would count as unanswered.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

from affectgpt.bench.answered import source_path, write_source
from affectgpt.manifest import StepManifest, hash_file, hash_tree
from affectgpt.model.decoding import Decoding, as_decoding, decoding_settings
from affectgpt.progress import step_progress

STEP_NAME = "infer"


def check_request(splits: Sequence[str] | None, dataset: str | None) -> None:
    """Refuse an unknown split or dataset name up front, listing the valid ones (a typo such as
    `--split tset` would otherwise select nothing)."""
    from affectgpt.bench.datasets import check_dataset_name
    from affectgpt.data.schema import SPLITS

    unknown = [split for split in splits or () if split not in SPLITS]
    if unknown:
        raise ValueError(f"unknown split(s) {', '.join(map(repr, unknown))}; use one of {', '.join(SPLITS)}")
    if dataset is not None:
        check_dataset_name(dataset)


def predict(model_dir: str | Path, data_dir: str | Path, out_path: str | Path, prompt: str = "ov",
            batch_size: int = 8, *, max_new_tokens: int | None = None, splits: Sequence[str] | None = None,
            extractor: str = "lexicon", dataset: str | None = None, progress: bool = True,
            decoding: Decoding | str = Decoding.GREEDY, seed: int = 0) -> Path:
    """Generate for every record in `data_dir` (optionally only `splits`) and write JSONL to
    `out_path`; a manifest.json lands beside it. Returns `out_path`. Each line's `dataset` is the
    record's own `dataset` column, else `dataset`, else the data folder's name; `affectgpt bench
    run` expects the MER-UniBench name (e.g. `mer2023`) in `<dataset>.jsonl`. `decoding` names
    the preset (`greedy` or `official`); `max_new_tokens` defaults to upstream's 1200 and
    `seed` makes sampling reproducible."""
    import torch

    from affectgpt.bench.extract import get_extractor
    from affectgpt.model.generation import DEFAULT_MAX_NEW_TOKENS, generate_texts
    from affectgpt.model.prompt import QUESTIONS
    from affectgpt.model.store import load_model_dir
    from affectgpt.train.data import DataError, load_caption_data

    if prompt not in QUESTIONS:
        raise ValueError(f"prompt must be one of {', '.join(QUESTIONS)}, got {prompt!r}")
    check_request(splits, dataset)
    decoding = as_decoding(decoding)  # a bad preset is refused here, before the model loads
    started = time.perf_counter()
    model_dir, data_dir, out_path = Path(model_dir), Path(data_dir), Path(out_path)
    loaded = load_model_dir(model_dir)
    decoding_info = {"preset": decoding, "seed": seed,
                     "max_new_tokens": max_new_tokens or DEFAULT_MAX_NEW_TOKENS, "capped_by_context": True,
                     **decoding_settings(decoding, loaded.model.llm)}
    vision_dim, audio_dim = loaded.config.modality_dims()
    data = load_caption_data(data_dir, vision_dim, audio_dim, need_target=False, splits=splits,
                             default_dataset=dataset)
    label_extractor = get_extractor(extractor)
    samples = data.samples
    if not samples:  # zero predictions written with exit 0 would pass for a finished run
        raise DataError(f"{data.records_path}: no records to predict"
                        + (f" in split(s) {', '.join(splits)}" if splits else "") + "; nothing was written")
    # The reporter is tqdm-compatible (`n`, `update`), as generate_texts expects; it advances per batch.
    with torch.inference_mode(), step_progress("infer", len(samples), unit="clip", enabled=progress) as bar:
        texts = generate_texts(loaded, [s.subtitle for s in samples], [s.features for s in samples], prompt,
                               batch_size=batch_size, max_new_tokens=max_new_tokens, decoding=decoding, seed=seed,
                               progress=bar)
    extractor_info = {"name": label_extractor.name, "version": label_extractor.version,
                      "prompt_hash": label_extractor.prompt_hash}
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_suffix(out_path.suffix + ".tmp")
    with tmp.open("w") as handle:
        for sample, text in zip(samples, texts):
            handle.write(json.dumps({
                "clip_id": sample.clip_id, "dataset": sample.dataset, "prompt_type": prompt, "decoding": decoding, "output": text,
                "extracted_labels": label_extractor.extract_labels(text), "extractor": extractor_info,
            }, ensure_ascii=False) + "\n")
    tmp.replace(out_path)
    write_source(out_path, data_dir, data.records_path, splits, [s.clip_id for s in samples])
    StepManifest(
        step=STEP_NAME,
        inputs={"model": hash_tree(model_dir), "records": hash_file(data.records_path),
                **({"features": hash_tree(data.features_dir)} if data.features_dir else {})},
        parameters={"prompt": prompt, "batch_size": batch_size, "max_new_tokens": max_new_tokens,
                    "splits": list(splits) if splits else None, "extractor": extractor_info, "decoding": decoding_info},
        kept=len(samples), skipped=data.skipped,
        outputs={"predictions": str(out_path), "source": str(source_path(out_path))},
        timings_s={"total": round(time.perf_counter() - started, 3)},
        extra={"clips_without_features": data.missing_features, "model_metadata": loaded.metadata},
    ).write(out_path.parent)
    return out_path
