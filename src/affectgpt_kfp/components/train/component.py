"""Step `train`: DeepSpeed training in the step's pod (`step`) or as a PyTorchJob on N GPUs
(`k8s`), via `affectgpt.cluster.train_on_backend`."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Model, Output

from affectgpt_kfp.components import step_image


@dsl.component(base_image=step_image("train"), install_kfp_package=False)
def train(dataset: Input[Dataset], features: Input[Dataset], model_config: str, model: Output[Model],
          backend: str = "step", gpus_per_node: int = 8, nodes: int = 2, train_cpu: str = "32",
          train_memory: str = "256Gi", train_memory_limit: str = "512Gi", train_shm_size: str = "64Gi",
          job_image: str = "", run_id: str = ""):
    """The PyTorchJob's size (`nodes` x `gpus_per_node`, CPU, memory, shared memory per pod) is
    an input; its pods run `job_image` (this step's own image, compiled in), carry `run_id` so
    the run's exit handler can release them, and are owned by this step's pod."""
    from affectgpt.cluster import K8sTrainOptions, train_on_backend

    options = K8sTrainOptions(gpus_per_node=gpus_per_node, nodes=nodes, cpu=train_cpu, memory=train_memory,
                              memory_limit=train_memory_limit, shm_size=train_shm_size, run_id=run_id,
                              **({"image": job_image} if job_image else {}))
    outcome = train_on_backend(model_config, dataset.path, model.path, features_dir=features.path, backend=backend,
                               k8s=options)
    model.metadata.update(outcome.summary())
