"""MLflow models-from-code entry point: MLflow copies this file into the logged model and runs
it on load, so loading never unpickles a Python object (the wrapper comes from the installed
affectgpt package)."""

import mlflow

from affectgpt.model.pyfunc import AffectGPTPyfunc

mlflow.models.set_model(AffectGPTPyfunc())
