"""A container of a rendered manifest run here as the kubelet would run it: its environment
(plain values, and Secret keys the test supplies) and its command line with `$(VAR)` references
expanded the kubelet's way. The store tests run the cluster's own command lines with this."""

from __future__ import annotations

import re
from collections.abc import Mapping

_REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def container_env(container: dict, secrets: Mapping[tuple[str, str], str]) -> dict[str, str]:
    """`env` of `container`: values as written, Secret references from `secrets`
    ({(secret name, key): value}). A reference the test did not supply is an error: a new
    credential in the manifest should not pass unnoticed."""
    env: dict[str, str] = {}
    for entry in container.get("env", []):
        if "value" in entry:
            env[entry["name"]] = str(entry["value"])
            continue
        ref = entry["valueFrom"]["secretKeyRef"]
        key = (ref["name"], ref["key"])
        if key not in secrets:
            raise KeyError(f"{container['name']}: env {entry['name']} reads Secret {key[0]} key {key[1]}, "
                           "which the test did not supply")
        env[entry["name"]] = secrets[key]
    return env


def secret_refs(container: dict) -> dict[str, tuple[str, str]]:
    """{env name: (Secret name, key)} of the variables `container` reads from Secrets."""
    return {entry["name"]: (entry["valueFrom"]["secretKeyRef"]["name"], entry["valueFrom"]["secretKeyRef"]["key"])
            for entry in container.get("env", []) if "secretKeyRef" in entry.get("valueFrom", {})}


def kubelet_argv(container: dict, env: Mapping[str, str]) -> list[str]:
    """command + args with `$(VAR)` replaced by the variable's value (left as written when it is
    not defined) and `$$` by `$`, as the kubelet does; no shell is involved."""
    def expand(text: str) -> str:
        return _REFERENCE.sub(lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), text)

    return [expand(str(part)) for part in (container.get("command") or []) + (container.get("args") or [])]
