"""Step `evaluate_dataset`: one MER-UniBench test set (or the corpus's `local` split) -> the
model's answers and the subtitle-only baseline (`affectgpt.bench.evaluation.predict_test_set`).
The retrain pipeline runs one per set in a `dsl.ParallelFor`, a GPU each on the cluster."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Model, Output

from components import step_image


@dsl.component(base_image=step_image("evaluate_dataset"), install_kfp_package=False)
def evaluate_dataset(model: Input[Model], dataset: Input[Dataset], features: Input[Dataset], test_set: str,
                     predictions: Output[Dataset], unibench_dir: str = "", unibench_rev: str = "",
                     decoding: str = "greedy", batch_size: int = 8):
    """`unibench_rev` (the test sets' DVC revision) is an input so that the kfp cache keys on the
    test sets' version, as `data_rev` does for the corpus."""
    from affectgpt.bench.evaluation import predict_test_set

    result = predict_test_set(model.path, unibench_dir or None, test_set, predictions.path,
                              local_dataset_dir=dataset.path, local_features_dir=features.path,
                              decoding=decoding, batch_size=batch_size, unibench_rev=unibench_rev)
    predictions.metadata.update({"test_set": test_set, "status": result.status, "n_gold": result.n_gold,
                                 "n_predicted": result.n_predicted, "unreadable": len(result.unreadable),
                                 "unibench_rev": unibench_rev, "decoding": decoding})
