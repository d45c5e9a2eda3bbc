"""Move the `champion` alias: promote an approved, gate-passing version, or roll back.

The move is a check-and-set. Under the alias lease (`lock.hold_lease`, one holder at a time)
the champion is re-read and compared with the champion the reviewer approved against; only if
they match are `previous` and `champion` moved, then read back to verify. Two racing promotions
therefore serialise on the lease and the second finds the champion changed and is refused; both
outcomes are in the audit log. If a write fails part-way, the aliases are put back as they were.
"""

from __future__ import annotations

import logging

from pydantic import BaseModel

from affectgpt.registry.audit import append_event, read_events
from affectgpt.registry.connection import RegistryClient
from affectgpt.registry.decisions import refuse
from affectgpt.registry.errors import Refused, RegistryError
from affectgpt.registry.identity import current_actor
from affectgpt.registry.lock import hold_lease
from affectgpt.registry.records import (
    CHAMPION,
    NO_CHAMPION,
    PREVIOUS,
    TAG_APPROVAL_STATUS,
    current_alias,
    current_aliases,
    load_version,
)

_log = logging.getLogger(__name__)


class AliasChange(BaseModel):
    """The aliases after a promotion or rollback, and what they were before."""

    model_name: str
    event: str
    champion: str
    previous: str | None
    champion_before: str | None
    previous_before: str | None


def _set_alias(client: RegistryClient, model_name: str, alias: str, version: str | None) -> None:
    if version is None:
        try:
            client.mlflow.delete_registered_model_alias(model_name, alias)
        except Exception as error:  # already absent is fine
            if "not found" not in str(error).lower() and "does not exist" not in str(error).lower():
                raise
    else:
        client.mlflow.set_registered_model_alias(model_name, alias, version)


def _move_aliases(
    client: RegistryClient,
    model_name: str,
    *,
    champion: str,
    previous: str | None,
    champion_before: str | None,
    previous_before: str | None,
) -> None:
    """Write `previous` then `champion` (the commit) and verify; on failure restore both."""
    try:
        client.call(f"set {model_name}@{PREVIOUS}", _set_alias, client, model_name, PREVIOUS, previous)
        client.call(f"set {model_name}@{CHAMPION}", _set_alias, client, model_name, CHAMPION, champion)
        now = client.call(f"read back {model_name}@{CHAMPION}", current_alias, client, model_name)
        if now != champion:
            raise RegistryError(f"{model_name}@{CHAMPION} reads v{now} after setting v{champion}")
    except Exception:
        _move_aliases_back(client, model_name, champion_before, previous_before)
        raise


def promote(
    model_name: str,
    version: str | int,
    *,
    actor: str | None = None,
    client: RegistryClient | None = None,
    tracking_uri: str | None = None,
    lease_wait_s: float = 60.0,
) -> AliasChange:
    """Make `version` the champion if its gate passed, it is approved, and the champion is still
    the one the reviewer approved against. Every refusal is written to the audit log."""
    client = client or RegistryClient(tracking_uri)
    actor_id = current_actor(actor)
    info = load_version(client, model_name, version)
    label = f"{model_name} v{info.version}"
    approval = info.approval or {}
    if info.approval_status == "rejected":
        raise refuse(
            client,
            info,
            "promotion_refused",
            actor_id,
            f"{label} was rejected by {approval.get('reviewer', '?')}; it cannot be promoted",
        )
    if info.gate is None or info.gate.verdict == "no_scores":
        raise refuse(
            client,
            info,
            "promotion_refused",
            actor_id,
            f"{label}: gate verdict is 'no scores' (no MER-UniBench scores recorded); "
            "register it with scores to make it promotable",
        )
    if info.gate.verdict != "pass":
        raise refuse(
            client,
            info,
            "promotion_refused",
            actor_id,
            f"{label}: gate verdict is '{info.gate.verdict}': {'; '.join(info.gate.reasons)}",
        )
    if info.approval_status == "revoked":
        raise refuse(
            client,
            info,
            "promotion_refused",
            actor_id,
            f"{label}: its approval was revoked when it was rolled back; review and approve it again",
        )
    if info.approval_status != "approved":
        raise refuse(
            client,
            info,
            "promotion_refused",
            actor_id,
            f"{label} has no approval; a reviewer other than its author must run "
            f"`affectgpt registry approve --model {model_name} --version {info.version}`",
        )
    expected = approval.get("reviewed_against", NO_CHAMPION)
    if expected != (info.gate.champion_version or NO_CHAMPION):
        raise refuse(
            client,
            info,
            "promotion_refused",
            actor_id,
            f"{label}: the gate was re-run against v{info.gate.champion_version or NO_CHAMPION} after "
            f"the approval (against v{expected}); approve it again",
        )

    with hold_lease(client, model_name, holder=actor_id, wait_s=lease_wait_s) as lease:
        aliases_before = current_aliases(client, model_name)
        champion_before, previous_before = aliases_before.get(CHAMPION), aliases_before.get(PREVIOUS)
        if champion_before == info.version:
            raise refuse(client, info, "promotion_refused", actor_id, f"{label} is already the champion")
        if (champion_before or NO_CHAMPION) != expected:
            raise refuse(
                client,
                info,
                "promotion_refused",
                actor_id,
                f"{label}: the champion changed since the review (approved against v{expected}, now "
                f"v{champion_before or NO_CHAMPION}); run `affectgpt registry review` and approve again",
            )
        lease.verify()
        previous_after = champion_before if champion_before is not None else previous_before
        _move_aliases(
            client,
            model_name,
            champion=info.version,
            previous=previous_after,
            champion_before=champion_before,
            previous_before=previous_before,
        )
        try:
            append_event(
                client,
                model_name,
                "promotion",
                actor=actor_id,
                version=info.version,
                details={
                    "from": champion_before,
                    "to": info.version,
                    "previous_after": previous_after,
                    "approved_by": approval.get("reviewer"),
                    "approved_at": approval.get("at"),
                    "gate_verdict": info.gate.verdict,
                    "run_id": info.run_id,
                    "data_rev": info.data_rev,
                    "lease_token": lease.token,
                },
            )
        except Exception:
            _move_aliases_back(client, model_name, champion_before, previous_before)
            raise
    return AliasChange(
        model_name=model_name,
        event="promotion",
        champion=info.version,
        previous=previous_after,
        champion_before=champion_before,
        previous_before=previous_before,
    )


def _move_aliases_back(
    client: RegistryClient, model_name: str, champion: str | None, previous: str | None
) -> None:
    """Best-effort restore, one plain attempt per alias: the server may be why we are here,
    and the caller re-raises the error that matters."""
    for alias, version in ((CHAMPION, champion), (PREVIOUS, previous)):
        try:
            _set_alias(client, model_name, alias, version)
        except Exception as error:  # noqa: BLE001
            _log.warning("could not restore %s@%s to v%s: %s", model_name, alias, version, error)


def _previous_of(client: RegistryClient, model_name: str, version: str) -> str | None:
    """The `previous` alias that was in effect while `version` was champion, from the audit log."""
    for event in reversed(read_events(client, model_name)):
        if event.event in ("promotion", "rollback") and str(event.details.get("to")) == version:
            previous = event.details.get("previous_after")
            return None if previous in (None, version) else str(previous)
    return None


def rollback(
    model_name: str,
    *,
    actor: str | None = None,
    reason: str = "",
    client: RegistryClient | None = None,
    tracking_uri: str | None = None,
    lease_wait_s: float = 60.0,
) -> AliasChange:
    """Restore the `previous` champion. The rolled-back version's approval is revoked (it must be
    approved again to return), and `previous` steps one further back along the audit log."""
    client = client or RegistryClient(tracking_uri)
    actor_id = current_actor(actor)
    with hold_lease(client, model_name, holder=actor_id, wait_s=lease_wait_s) as lease:
        aliases_before = current_aliases(client, model_name)
        champion_before, previous_before = aliases_before.get(CHAMPION), aliases_before.get(PREVIOUS)
        if champion_before is None or previous_before is None or previous_before == champion_before:
            message = f"{model_name}: no previous champion to roll back to"
            append_event(
                client,
                model_name,
                "rollback_refused",
                actor=actor_id,
                version=champion_before,
                details={"reason": message},
            )
            raise Refused(message)
        previous_after = _previous_of(client, model_name, previous_before)
        if previous_after == champion_before:
            previous_after = None
        lease.verify()
        _move_aliases(
            client,
            model_name,
            champion=previous_before,
            previous=previous_after,
            champion_before=champion_before,
            previous_before=previous_before,
        )
        try:
            client.call(
                f"revoke the approval of {model_name} v{champion_before}",
                client.mlflow.set_model_version_tag,
                model_name,
                champion_before,
                TAG_APPROVAL_STATUS,
                "revoked",
            )
            append_event(
                client,
                model_name,
                "rollback",
                actor=actor_id,
                version=previous_before,
                details={
                    "from": champion_before,
                    "to": previous_before,
                    "previous_after": previous_after,
                    "reason": reason,
                    "revoked_approval_of": champion_before,
                    "lease_token": lease.token,
                },
            )
        except Exception:
            _move_aliases_back(client, model_name, champion_before, previous_before)
            try:
                client.mlflow.set_model_version_tag(
                    model_name, champion_before, TAG_APPROVAL_STATUS, "approved"
                )
            except Exception as error:  # noqa: BLE001
                _log.warning(
                    "could not restore the approval of %s v%s: %s", model_name, champion_before, error
                )
            raise
    return AliasChange(
        model_name=model_name,
        event="rollback",
        champion=previous_before,
        previous=previous_after,
        champion_before=champion_before,
        previous_before=previous_before,
    )
