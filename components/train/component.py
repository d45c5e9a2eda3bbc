"""Step `train`: DeepSpeed training in the step's pod (`local`) or as a PyTorchJob on N GPUs
(`k8s`), via `affectgpt.cluster.train_on_backend`."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Model, Output

from components import step_image


@dsl.component(base_image=step_image("train"), install_kfp_package=False)
def train(dataset: Input[Dataset], features: Input[Dataset], model_config: str, model: Output[Model],
          backend: str = "local", gpus_per_node: int = 8, nodes: int = 1):
    from affectgpt.cluster import K8sTrainOptions
    from affectgpt.warm_steps import call  # a warm process when the local runner offers one

    outcome = call("affectgpt.cluster:train_on_backend", model_config, dataset.path, model.path,
                   features_dir=features.path, backend=backend,
                   k8s=K8sTrainOptions(gpus_per_node=gpus_per_node, nodes=nodes))
    model.metadata.update(outcome.summary())
