"""Kubeflow Pipelines components: one folder per step, each a thin kfp v2 wrapper around one
`affectgpt` library function (the library itself never imports kfp).

Every step runs from its own image, built FROM the platform image (components/base/Dockerfile)
and tagged with the content tag of the code it holds (`affectgpt.image_tag`): the compiled
pipelines name immutable images. `make images` builds exactly these."""

import os

from affectgpt.image_tag import image_tag

# Where the images are pushed; another registry: set it when compiling and in `make images`.
IMAGE_REPOSITORY = os.environ.get("AFFECTGPT_IMAGE_REPOSITORY", "ghcr.io/affectgpt/affectgpt")


def base_image() -> str:
    """The platform image: the affectgpt package and its stack (the training job runs it)."""
    return f"{IMAGE_REPOSITORY}:{image_tag()}"


def step_image(step: str) -> str:
    """The image of one step (components/<step>/Dockerfile, built FROM the platform image)."""
    return f"{IMAGE_REPOSITORY}-{step}:{image_tag()}"
