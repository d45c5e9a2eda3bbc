"""Kubeflow Pipelines components: one folder per step, each a thin kfp v2 wrapper around one
`affectgpt` library function (the library itself never imports kfp)."""

IMAGE_REPOSITORY = "ghcr.io/affectgpt/affectgpt"
IMAGE_TAG = "0.1.0"
# The platform image (components/base/Dockerfile): the affectgpt package and its stack.
BASE_IMAGE = f"{IMAGE_REPOSITORY}:{IMAGE_TAG}"


def step_image(step: str) -> str:
    """The image of one step (components/<step>/Dockerfile, built FROM the base image)."""
    return f"{IMAGE_REPOSITORY}-{step}:{IMAGE_TAG}"
