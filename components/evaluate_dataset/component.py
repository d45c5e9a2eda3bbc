"""Step `evaluate_dataset`: MER-UniBench test sets (or the corpus's `local` split) -> the
model's answers and the subtitle-only baseline (`affectgpt.bench.evaluation.predict_test_set`).
On the cluster the retrain pipeline runs one task per set in a `dsl.ParallelFor`, a GPU each;
on one machine (kfp.local) one task predicts every set, so the fixed cost of a step (a fresh
process, its imports) is paid once instead of ten times. The outputs are the same either way."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Model, Output

from components import step_image


@dsl.component(base_image=step_image("evaluate_dataset"), install_kfp_package=False)
def evaluate_dataset(model: Input[Model], dataset: Input[Dataset], features: Input[Dataset], test_set: str,
                     predictions: Output[Dataset], unibench_dir: str = "", unibench_rev: str = "",
                     decoding: str = "greedy", batch_size: int = 8):
    """`test_set` names one set, or several separated by commas; each set's predictions land in
    `<predictions>/<set>/`, so `evaluate` reads one layout whichever grouping ran.
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
