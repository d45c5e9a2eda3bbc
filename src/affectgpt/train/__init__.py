"""train"""

from pathlib import Path

# The checkpoint folder inside a training output: resume state, never read downstream (the
# pipeline copies a model folder without it).
CHECKPOINTS_DIR = "checkpoints"
# The loadable model inside a training output (`affectgpt train --out X` writes X/model).
MODEL_DIR = "model"


def model_folder(train_output: Path) -> Path:
    """The loadable model of a training output, or the folder itself when it is a model folder:
    callers accept either, as a person passes whichever they have at hand."""
    model = train_output / MODEL_DIR
    return model if (model / "config.json").is_file() else train_output
