"""`predict`: batched greedy generation over a data folder, written as the predictions JSONL
that `affectgpt bench run` scores.

One line per clip: `clip_id, dataset, prompt_type, output, extracted_labels,
extractor{name,version,prompt_hash}`; labels come from the pinned extractor so a score can be
traced to the exact label-extraction rules that produced it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

from affectgpt.manifest import StepManifest, hash_file, hash_tree

STEP_NAME = "infer"


def predict(model_dir: str | Path, data_dir: str | Path, out_path: str | Path, prompt: str = "ov",
            batch_size: int = 8, *, max_new_tokens: int = 64, splits: Sequence[str] | None = None,
            extractor: str = "lexicon", dataset: str | None = None, progress: bool = True,
            decoding: str = "greedy") -> Path:
    """Generate for every record in `data_dir` (optionally only `splits`) and write JSONL to
    `out_path`; a manifest.json lands beside it. Returns `out_path`. Each line's `dataset` is the
    record's own `dataset` column, else `dataset`, else the data folder's name; `affectgpt bench
    run` expects the MER-UniBench name (e.g. `mer2023`) in `<dataset>.jsonl`."""
    import torch
    from tqdm.auto import tqdm

    from affectgpt.bench.extract import get_extractor
    from affectgpt.model.generation import generate_texts
    from affectgpt.model.prompt import QUESTIONS
    from affectgpt.model.store import load_model_dir
    from affectgpt.train.data import load_caption_data

    if decoding != "greedy":
        raise ValueError(f"decoding must be 'greedy', got {decoding!r}")
    if prompt not in QUESTIONS:
        raise ValueError(f"prompt must be one of {', '.join(QUESTIONS)}, got {prompt!r}")
    started = time.perf_counter()
    model_dir, data_dir, out_path = Path(model_dir), Path(data_dir), Path(out_path)
    loaded = load_model_dir(model_dir)
    vision_dim, audio_dim = loaded.config.modality_dims()
    data = load_caption_data(data_dir, vision_dim, audio_dim, need_target=False, splits=splits,
                             default_dataset=dataset)
    label_extractor = get_extractor(extractor)
    samples = data.samples
    with torch.inference_mode(), tqdm(total=len(samples), desc="infer", unit="clip", disable=not progress) as bar:
        texts = generate_texts(loaded, [s.subtitle for s in samples], [s.features for s in samples], prompt,
                               batch_size=batch_size, max_new_tokens=max_new_tokens, progress=bar)
    extractor_info = {"name": label_extractor.name, "version": label_extractor.version,
                      "prompt_hash": label_extractor.prompt_hash}
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_suffix(out_path.suffix + ".tmp")
    with tmp.open("w") as handle:
        for sample, text in zip(samples, texts):
            handle.write(json.dumps({
                "clip_id": sample.clip_id, "dataset": sample.dataset, "prompt_type": prompt, "output": text,
                "extracted_labels": label_extractor.extract_labels(text), "extractor": extractor_info,
                "decoding": decoding,
            }, ensure_ascii=False) + "\n")
    tmp.replace(out_path)
    StepManifest(
        step=STEP_NAME,
        inputs={"model": hash_tree(model_dir), "records": hash_file(data.records_path),
                **({"features": hash_tree(data.features_dir)} if data.features_dir else {})},
        parameters={"prompt": prompt, "batch_size": batch_size, "max_new_tokens": max_new_tokens,
                    "splits": list(splits) if splits else None, "extractor": extractor_info, "decoding": decoding},
        kept=len(samples), skipped=data.skipped, outputs={"predictions": str(out_path)},
        timings_s={"total": round(time.perf_counter() - started, 3)},
        extra={"clips_without_features": data.missing_features, "model_metadata": loaded.metadata},
    ).write(out_path.parent)
    return out_path
