"""Step `release_training_jobs`: the exit handler of `retrain-k8s`. It runs however the run
ends (success, failure, cancellation) and deletes the run's PyTorchJobs that are still running,
so a cancelled run does not keep its GPUs (`affectgpt.cluster.release_run_jobs`)."""

from kfp import dsl

from affectgpt_kfp.components import step_image


@dsl.component(base_image=step_image("release_training_jobs"), install_kfp_package=False)
def release_training_jobs(run_id: str) -> int:
    """Returns how many jobs it deleted (finished jobs stay for their logs)."""
    from affectgpt.cluster import release_run_jobs

    return len(release_run_jobs(run_id))
