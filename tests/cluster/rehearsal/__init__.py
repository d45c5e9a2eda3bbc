"""A pod-shaped rehearsal of a compiled cluster pipeline on one machine, for tests.

    spec, platform = load_ir(COMPILED / "retrain-k8s.yaml")
    with rehearsal_world(tmp, ImageRuntime.build(tmp / "image"), overlay=..., pvcs=..., services=...) as world:
        result = Rehearsal(spec, platform, world).run({"raw_dir": "/data/raw", ...})

`kfp_run` walks the IR and runs each task through kfp's executor as its container spec says;
`pod` makes the bubblewrap sandbox of a pod; `kube` is the cluster (the rendered overlay, RBAC)
and the stand-in API server that also plays the Training Operator; `harness` starts MLflow (with
authentication) and the world around a run. docs/platform.md ("Rehearsal without a cluster") says what is modelled.
"""

from .harness import MlflowService, mlflow_service, rehearsal_world
from .kfp_run import Rehearsal, RunResult, TaskFailed, World, load_ir
from .kube import Cluster, StandInApiServer, checked_reply, render_overlay
from .pod import ImageRuntime, PodFailed

__all__ = ["Cluster", "ImageRuntime", "MlflowService", "PodFailed", "Rehearsal", "RunResult", "StandInApiServer",
           "TaskFailed", "World", "checked_reply", "load_ir", "mlflow_service", "rehearsal_world", "render_overlay"]
