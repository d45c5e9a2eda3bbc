#!/usr/bin/env bash
# Builds the platform image and every step image under the content tag the compiled pipelines
# name (affectgpt/image_tag.py), with docker, podman or buildah, whichever is installed, and
# prints the push commands. For another registry set AFFECTGPT_IMAGE_REPOSITORY (default
# ghcr.io/affectgpt/affectgpt) here and when compiling (`affectgpt pipeline compile`).
#   make images            # build
#   make images DRY_RUN=1  # print the commands only
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"
TAG="$("$PY" -c 'from affectgpt.image_tag import image_tag; print(image_tag())')"
REPO="${AFFECTGPT_IMAGE_REPOSITORY:-ghcr.io/affectgpt/affectgpt}"
COMMIT="$(git rev-parse HEAD)"
DIRTY="$(test -z "$(git status --porcelain -uno)" || echo 1)"
if [ -n "$DIRTY" ]; then
  echo "images: the checkout has uncommitted changes; the tag $TAG covers them, the commit label does not" >&2
fi
ENGINE=""
for candidate in docker podman buildah; do
  if command -v "$candidate" >/dev/null 2>&1; then ENGINE="$candidate"; break; fi
done
run() {
  echo "+ $*"
  if [ -z "${DRY_RUN:-}" ]; then "$@"; fi
}
if [ -z "$ENGINE" ]; then
  [ -n "${DRY_RUN:-}" ] || { echo "images: install docker, podman or buildah" >&2; exit 2; }
  ENGINE=docker
fi
build() { if [ "$ENGINE" = buildah ]; then run buildah bud "$@"; else run "$ENGINE" build "$@"; fi; }

build -f src/affectgpt_kfp/components/base/Dockerfile --build-arg AFFECTGPT_BUILD_COMMIT="$COMMIT" \
  --build-arg AFFECTGPT_BUILD_DIRTY="$DIRTY" --build-arg AFFECTGPT_IMAGE_TAG="$TAG" -t "$REPO:$TAG" .
images=("$REPO:$TAG")
for dockerfile in src/affectgpt_kfp/components/*/Dockerfile; do
  step="$(basename "$(dirname "$dockerfile")")"
  [ "$step" = base ] && continue
  build -f "$dockerfile" --build-arg BASE_IMAGE="$REPO:$TAG" -t "$REPO-$step:$TAG" .
  images+=("$REPO-$step:$TAG")
done
echo "images: built ${#images[@]} images with tag $TAG; push them with:"
for image in "${images[@]}"; do echo "  $ENGINE push $image"; done
