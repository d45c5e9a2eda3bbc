"""The offline defaults every affectgpt process runs under, set in one place.

The platform never reaches a model hub or a telemetry endpoint at run time (models load from a
path the user gives; see docs/platform.md). Entry points (the CLI, pool workers, kfp components)
call `apply_offline_defaults()` before importing a library that reads these variables;
`setdefault` keeps whatever the user exported, so an online deployment can opt back in.
"""

from __future__ import annotations

import os

OFFLINE_DEFAULTS: dict[str, str] = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "DVC_NO_ANALYTICS": "1",
    "KERAS_BACKEND": "torch",
    "TOKENIZERS_PARALLELISM": "false",
}


def apply_offline_defaults() -> None:
    """Set each offline variable the environment does not already set."""
    for key, value in OFFLINE_DEFAULTS.items():
        os.environ.setdefault(key, value)
