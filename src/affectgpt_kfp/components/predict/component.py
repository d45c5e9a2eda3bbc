"""Step `predict`: MER-UniBench test sets (or the corpus's `local` split) -> the
model's answers and the subtitle-only baseline (`affectgpt.bench.evaluation.predict_test_set`).
The retrain pipeline runs one task per set in a `dsl.ParallelFor`, a GPU each on the cluster
(kfp.local runs the same graph, one task after the other)."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Model, Output

from affectgpt_kfp.components import step_image


@dsl.component(base_image=step_image("predict"), install_kfp_package=False)
def predict(model: Input[Model], dataset: Input[Dataset], features: Input[Dataset], test_set: str,
                     predictions: Output[Dataset], unibench_dir: str = "", unibench_rev: str = "",
                     decoding: str = "greedy", batch_size: int = 8):
    """`test_set` names one set, or several separated by commas; each set's predictions land in
    `<predictions>/<set>/`, so `score` reads one layout whichever grouping ran.
    `unibench_rev` (the test sets' DVC revision) is an input so that the kfp cache keys on the
    test sets' version, as `data_rev` does for the corpus."""
    from affectgpt.bench.evaluation import predict_test_sets

    names = [part.strip() for part in test_set.split(",") if part.strip()]
    results = predict_test_sets(model.path, unibench_dir or None, names, predictions.path,
                                local_dataset_dir=dataset.path, local_features_dir=features.path,
                                decoding=decoding, batch_size=batch_size, unibench_rev=unibench_rev)
    per_set = {name: {"status": result.status, "n_gold": result.n_gold, "n_predicted": result.n_predicted,
                      "unreadable": len(result.unreadable)} for name, result in results.items()}
    predictions.metadata.update({"test_set": test_set, "sets": per_set, "unibench_rev": unibench_rev,
                                 "decoding": decoding})
