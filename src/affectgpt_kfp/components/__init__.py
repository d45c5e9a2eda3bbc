"""Kubeflow Pipelines components: one folder per step, each a thin kfp v2 wrapper around one
`affectgpt` library function (no library module imports kfp).

Every step runs from its own image, built FROM the platform image (src/affectgpt_kfp/components/base/Dockerfile)
and tagged with the content tag of the code it holds (`affectgpt.image_tag`): the compiled
pipelines name immutable images. `make images` builds exactly these."""

from affectgpt.image_tag import image_repository, image_tag


def step_image(step: str) -> str:
    """The image of one step (src/affectgpt_kfp/components/<step>/Dockerfile, built FROM the platform image);
    another registry: set AFFECTGPT_IMAGE_REPOSITORY when compiling and in `make images`."""
    return f"{image_repository()}-{step}:{image_tag()}"
