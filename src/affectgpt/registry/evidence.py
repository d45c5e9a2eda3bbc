"""The bench report behind a candidate's scores, its sha256 recorded in the registration (and
so in the audit log), re-read and re-hashed whenever the gate is recomputed.

On a governed server the enforcement point freezes the report's bytes in its own store at
registration (`gate_store`, keyed by sha256; artifact `affectgpt-gate:sha256/<digest>`), so
nothing an actor later uploads to the run changes what the gate reads. On a local store the
report is logged with the training run. Scores typed on the command line have no report: they
are marked manual and never pass the production gate.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

from affectgpt.registry.connection import RegistryClient
from affectgpt.registry.errors import Refused
from affectgpt.registry.scores import BenchScores, load_scores

REPORT_ARTIFACT_DIR = "affectgpt-bench"
REPORT_ARTIFACT = f"{REPORT_ARTIFACT_DIR}/report.json"
FROZEN_PREFIX = "affectgpt-gate:sha256/"


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def report_file(scores: str | Path) -> Path:
    path = Path(scores)
    return path / "report.json" if path.is_dir() else path


def log_report(client: RegistryClient, run_id: str, report: Path) -> tuple[str, str]:
    """Store the exact report bytes with the run; returns (artifact path, sha256)."""
    digest = sha256_file(report)
    with tempfile.TemporaryDirectory(prefix="affectgpt-report-") as scratch:
        staged = Path(scratch) / "report.json"
        shutil.copyfile(report, staged)
        client.call(f"store the bench report with run {run_id}", client.mlflow.log_artifact,
                    run_id, str(staged), REPORT_ARTIFACT_DIR)
    return REPORT_ARTIFACT, digest


def store_report(client: RegistryClient, run_id: str, report: Path) -> tuple[str, str]:
    """Keep the report as registration evidence: frozen in the gate's store inside the server,
    else logged with the run (local stores). Returns (where, sha256)."""
    if client.evidence_store is not None:
        digest = client.evidence_store.put_evidence(Path(report).read_bytes(), client.identity().name)
        return f"{FROZEN_PREFIX}{digest}", digest
    return log_report(client, run_id, report)


def registered_report(client: RegistryClient, run_id: str, artifact: str, expected_sha256: str) -> BenchScores:
    """The scores of the registered report, from the gate's frozen copy or the run's artifact."""
    if artifact.startswith(FROZEN_PREFIX):
        if client.evidence_store is None:
            raise Refused(f"the report of run {run_id} is frozen in the registry gate; only the gate reads it")
        content = client.evidence_store.evidence(expected_sha256)
        if content is None:
            raise Refused(f"run {run_id}: the registered bench report {expected_sha256[:12]} is not in the "
                          "gate's evidence store; the gate cannot be recomputed")
        with tempfile.TemporaryDirectory(prefix="affectgpt-report-") as scratch:
            local = Path(scratch) / "report.json"
            local.write_bytes(content)
            if sha256_file(local) != expected_sha256:
                raise Refused(f"run {run_id}: the frozen bench report does not match its sha256")
            return load_scores(local)
    return fetch_report(client, run_id, artifact, expected_sha256)


def fetch_report(client: RegistryClient, run_id: str, artifact: str, expected_sha256: str) -> BenchScores:
    """Download the report, check it is the one registered, and read its scores."""
    with tempfile.TemporaryDirectory(prefix="affectgpt-report-") as scratch:
        try:
            local = client.call(f"fetch the bench report of run {run_id}", client.mlflow.download_artifacts,
                                run_id, artifact, scratch)
        except Exception as error:
            if "403" in str(error) or "not found" in str(error).lower() or "No such file" in str(error):
                raise Refused(f"run {run_id}: its bench report {artifact} cannot be read ({error}); "
                              "the gate cannot be recomputed") from error
            raise
        digest = sha256_file(Path(local))
        if digest != expected_sha256:
            raise Refused(
                f"run {run_id}: the bench report {artifact} changed since registration (sha256 {digest[:12]}, "
                f"registered {expected_sha256[:12]}); the gate is computed from the registered evidence only"
            )
        return load_scores(Path(local))


def champion_report(client: RegistryClient, champion_record: dict) -> BenchScores | None:
    """The champion's registered bench report (for paired comparisons), or None when it has
    none or it cannot be read: a rule that needs it then says so and fails."""
    if not champion_record or champion_record.get("manual") or not champion_record.get("report_sha256"):
        return None
    try:
        return registered_report(client, champion_record["run_id"], champion_record["report_artifact"],
                                 champion_record["report_sha256"])
    except Refused:
        return None
