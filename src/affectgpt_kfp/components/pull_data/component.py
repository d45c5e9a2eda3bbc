"""Step `pull_data`: the corpus revision a run names, brought onto the data volume before the
build (`affectgpt.data.dvc_pull`). With `dvc_repo` empty it does nothing and hands `raw_dir` on."""

from kfp import dsl

from affectgpt_kfp.components import step_image


@dsl.component(base_image=step_image("pull_data"), install_kfp_package=False)
def pull_data(dvc_repo: str, raw_dir: str, data_rev: str) -> str:
    """Returns the folder the build reads: `raw_dir` itself, or (with `dvc_repo`) the revision
    `data_rev` of the folder `raw_dir` names inside that repository, pulled into a folder keyed
    by the revision under the workspace."""
    from affectgpt.data.dvc_pull import corpus_at_revision

    return corpus_at_revision(dvc_repo, raw_dir, data_rev)
