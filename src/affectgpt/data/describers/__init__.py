"""Clue generators ("describers"): one protocol, several real implementations per modality.

`acoustic` and `fer` put measured signals into words; `hf` runs a transformers model from a
local path; `endpoint` calls an OpenAI-compatible server (vLLM) with image/audio content parts.
"""

from affectgpt.data.describers.base import Describer, available_describers, make_describer

__all__ = ["Describer", "available_describers", "make_describer"]
