"""A pod on this machine: one container run in a bubblewrap sandbox shaped like the pod.

The sandbox has the image's user (uid/gid from the securityContext), a read-only root made of
the host's system folders with the checkout hidden, the image's WORKDIR `/app` empty and
read-only, a private `/tmp` and `/dev/shm`, and only the volumes the pod mounts. The image is
stood in for by this machine's venv (the locked stack, read-only at its own path) plus the
affectgpt wheel installed into a folder (`/image/site-packages`, `/image/bin`): `affectgpt`,
`affectgpt_kfp` import from the wheel, never from the checkout. The image's ENV
and WORKDIR are read from its Dockerfile (src/affectgpt_kfp/components/<step>/Dockerfile, FROM the base one).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
# Host folders that make up the image's root filesystem (read-only); nothing else of the host
# (the checkout under /work, the host's /tmp and /run) is visible in a pod.
ROOT_FOLDERS = ("bin", "boot", "etc", "home", "lib", "lib32", "lib64", "libx32", "media", "mnt", "opt",
                "root", "sbin", "srv", "usr", "var")
IMAGE_SITE, IMAGE_BIN = "/image/site-packages", "/image/bin"
# python:3.11-slim's PATH, with the stand-ins for its /usr/local/bin in front.
IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SA_TOKEN_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


class PodFailed(RuntimeError):
    """A container exited non-zero (or could not start); the message ends with its log tail."""


@dataclass
class ImageConfig:
    """What `docker inspect` would say of an image: its ENV, WORKDIR and USER."""

    ref: str
    env: dict[str, str]
    workdir: str = "/"
    user: str = "root"


def dockerfile_for(image_ref: str) -> Path:
    """ghcr.io/affectgpt/affectgpt-<step>:<tag> -> src/affectgpt_kfp/components/<step>/Dockerfile; the platform
    image (affectgpt:<tag>) -> src/affectgpt_kfp/components/base/Dockerfile."""
    name = image_ref.rsplit("/", 1)[-1].split("@")[0].split(":")[0]
    step = name.removeprefix("affectgpt").removeprefix("-") or "base"
    path = REPO / "src" / "affectgpt_kfp" / "components" / step / "Dockerfile"
    if not path.is_file():
        raise FileNotFoundError(f"image {image_ref}: no {path.relative_to(REPO)} builds it")
    return path


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def image_config(image_ref: str) -> ImageConfig:
    """ENV/WORKDIR/USER of the image's last stage, following FROM into our own base image. An
    image we do not build (python:3.11 of a test pipeline) is the venv's Python, run from /."""
    if not image_ref.startswith("ghcr.io/affectgpt/"):
        return ImageConfig(image_ref, {"LANG": "C.UTF-8"})
    instructions = _instructions(dockerfile_for(image_ref))
    args = {k: v for k, _, v in (a.partition("=") for op, a in instructions if op == "ARG")}
    # A step image's BASE_IMAGE has no default: `make images` passes the platform image.
    args["BASE_IMAGE"] = args.get("BASE_IMAGE") or "ghcr.io/affectgpt/affectgpt:" + image_ref.rsplit(":", 1)[-1]
    last_from = max(i for i, (op, _) in enumerate(instructions) if op == "FROM")
    base = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), ""), instructions[last_from][1].split()[0])
    config = image_config(base) if base.startswith("ghcr.io/affectgpt/") else ImageConfig(base, {"LANG": "C.UTF-8"})
    for op, value in instructions[last_from + 1:]:
        if op == "ENV":
            config.env.update(dict(pair.split("=", 1) for pair in shlex.split(value)))
        elif op == "WORKDIR":
            config.workdir = value
        elif op == "USER":
            config.user = value
    config.ref = image_ref
    return config


@dataclass
class ImageRuntime:
    """The host side of "the image": this venv (the locked stack) and the wheel's install folder."""

    venv: Path
    wheel_site: Path

    @classmethod
    def build(cls, into: Path) -> ImageRuntime:
        """Build the affectgpt wheel from the checkout and install it (no deps) into a folder, as
        the image's Dockerfile does; the build folders stay in `into`."""
        into.mkdir(parents=True, exist_ok=True)
        extra = into / "build.cfg"
        extra.write_text(f"[build]\nbuild_base = {into / 'build'}\n[egg_info]\negg_base = {into}\n"
                         f"[bdist_wheel]\nbdist_dir = {into / 'bdist'}\n")
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "AFFECTGPT_BUILD_COMMIT",
                                                                 "AFFECTGPT_BUILD_DIRTY")}
        pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
        subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(into / "dist"),
                        str(REPO)], check=True, env={**env, "DIST_EXTRA_CONFIG": str(extra)}, capture_output=True,
                       timeout=300)
        wheel = next((into / "dist").glob("affectgpt-*.whl"))
        site = into / "site"
        subprocess.run([*pip, "install", "--no-deps", "--no-index", "--target", str(site), str(wheel)], check=True,
                       env=env, capture_output=True, timeout=300)
        return cls(Path(sys.prefix), site)


@dataclass
class Mount:
    source: Path
    target: str
    read_only: bool = False


@dataclass
class Container:
    """One container of a pod, resolved to what the sandbox needs."""

    pod_name: str
    argv: list[str]
    env: dict[str, str]
    image: ImageConfig
    uid: int = 10001
    gid: int = 10001
    workdir: str | None = None  # the container's workingDir; the image's WORKDIR otherwise
    mounts: list[Mount] = field(default_factory=list)
    tmpfs: list[str] = field(default_factory=list)  # emptyDir volumes (medium Memory or not)


def image_env(image: ImageConfig, runtime: ImageRuntime) -> dict[str, str]:
    """The environment the image gives every container, before the pod's own env."""
    path = f"{IMAGE_BIN}:{runtime.venv / 'bin'}:{IMAGE_PATH}"
    return {"PATH": path, "PYTHONPATH": IMAGE_SITE, "HOSTNAME": "", **image.env}


def _through_links(target: str) -> str:
    """bwrap cannot create a mount point through a symlink (/var/run -> /run on Debian): use
    the path the link leads to, which is the same place in the sandbox."""
    path = Path(target)
    for parent in reversed(path.parents):
        if parent.is_symlink():
            return str(Path(os.path.realpath(parent)) / path.relative_to(parent))
    return target


def bwrap_argv(container: Container, runtime: ImageRuntime) -> list[str]:
    argv = ["bwrap", "--unshare-user", "--uid", str(container.uid), "--gid", str(container.gid), "--unshare-pid",
            "--unshare-ipc", "--unshare-uts", "--hostname", container.pod_name[:63], "--die-with-parent",
            "--new-session"]
    for name in ROOT_FOLDERS:
        host = Path("/") / name
        if host.is_symlink():
            argv += ["--symlink", os.readlink(host), str(host)]
        elif host.is_dir():
            argv += ["--ro-bind", str(host), str(host)]
    argv += ["--ro-bind", "/sys", "/sys", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--tmpfs", "/run",
             "--tmpfs", "/dev/shm", "--ro-bind", str(runtime.wheel_site), IMAGE_SITE]
    if (runtime.wheel_site / "bin").is_dir():
        argv += ["--ro-bind", str(runtime.wheel_site / "bin"), IMAGE_BIN]
    argv += ["--dir", container.image.workdir]
    for target in container.tmpfs:
        argv += ["--tmpfs", target]
    for mount in container.mounts:
        argv += ["--ro-bind" if mount.read_only else "--bind", str(mount.source), _through_links(mount.target)]
    # The venv last: it stands in for the image's Python at its host path, which may lie under a
    # folder the pod gets fresh (a checkout under /tmp: the pod's /tmp tmpfs or emptyDir).
    argv += ["--ro-bind", str(runtime.venv), str(runtime.venv)]
    argv += ["--remount-ro", "/", "--chdir", container.workdir or container.image.workdir, "--clearenv"]
    env = {**image_env(container.image, runtime), **container.env}
    env["HOSTNAME"] = env.get("HOSTNAME") or container.pod_name
    for key, value in env.items():
        argv += ["--setenv", key, value]
    return [*argv, "--", *container.argv]


def start(container: Container, runtime: ImageRuntime, log_path: Path | None = None) -> subprocess.Popen:
    """Start the container; stdout and stderr go to `log_path` (the pod log), or to a pipe."""
    if log_path is None:
        return subprocess.Popen(bwrap_argv(container, runtime), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        return subprocess.Popen(bwrap_argv(container, runtime), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def log_tail(log_path: Path, lines: int = 40) -> str:
    if not log_path.is_file():
        return "(no log)"
    return "\n".join(log_path.read_text(errors="replace").splitlines()[-lines:])


def run(container: Container, runtime: ImageRuntime, log_path: Path, what: str) -> None:
    """Run the container to its end; PodFailed with the log tail if it exits non-zero."""
    process = start(container, runtime, log_path)
    code = process.wait()
    if code != 0:
        raise PodFailed(f"{what}: container exited with code {code}\n--- last lines of its log ---\n"
                        f"{log_tail(log_path)}")
