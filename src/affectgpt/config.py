"""Reading YAML config files into pydantic models, one way for every subsystem.

Each subsystem owns its model and its error type (so callers catch what they know); this module
owns the reading: safe YAML, a mapping at the top, and every invalid field named with its file.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

ModelT = TypeVar("ModelT", bound=BaseModel)


def validation_problems(error: ValidationError) -> str:
    """`field 'a.b': message; field 'c': message` for every invalid field."""
    return "; ".join(
        f"field '{'.'.join(str(part) for part in item['loc']) or '(top level)'}': {item['msg']}"
        for item in error.errors()
    )


def load_yaml_model(path: str | Path, model: type[ModelT], error: type[Exception]) -> ModelT:
    """Validate the YAML file at `path` into `model`; any problem raises `error` naming the file.
    An empty file means all defaults."""
    path = Path(path)
    try:
        payload = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:  # one line: where, and what the parser expected
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        raise error(f"{path}{where}: not valid YAML ({problem}); fix the file") from None
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not valid YAML ({exc}); fix the file") from None
    if not isinstance(payload, dict):
        raise error(f"{path}: expected a mapping at the top level")
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise error(f"{path}: {validation_problems(exc)}") from None
