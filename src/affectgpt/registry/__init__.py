"""MLflow model registry for AffectGPT: register runs with lineage and MER-UniBench scores,
judge them with an evaluation gate, require a second person's approval, and move the
`champion` alias with a check-and-set, keeping a hash-chained audit log of all of it. On a server every change is a request to the
registry gate inside MLflow (`server_app`, `enforcement`), which takes the caller from the
server's authentication and alone writes what it governs (see docs/registry.md).
"""

from affectgpt.registry.audit import AuditEvent, read_audit_copy, read_events
from affectgpt.registry.connection import RegistryClient, RetryPolicy, default_tracking_uri
from affectgpt.registry.decisions import Decision, approve, reject
from affectgpt.registry.errors import InvalidInput, NotFound, Refused, RegistryError, RegistryUnavailable
from affectgpt.registry.gate import GateResult, PromotionConfig, evaluate_gate, load_promotion_config
from affectgpt.registry.governance import Roles, VerifyReport, init_registry, unlock, verify_registry
from affectgpt.registry.promotion import AliasChange, promote, rollback
from affectgpt.registry.records import VersionInfo, current_alias, load_version
from affectgpt.registry.register import CandidateResult, register_candidate
from affectgpt.registry.repair import repair_registry
from affectgpt.registry.review import ReviewResult, review_version

__all__ = [
    "AliasChange",
    "AuditEvent",
    "CandidateResult",
    "Decision",
    "GateResult",
    "InvalidInput",
    "NotFound",
    "PromotionConfig",
    "Refused",
    "RegistryClient",
    "RegistryError",
    "RegistryUnavailable",
    "RetryPolicy",
    "ReviewResult",
    "Roles",
    "VerifyReport",
    "VersionInfo",
    "approve",
    "current_alias",
    "default_tracking_uri",
    "evaluate_gate",
    "init_registry",
    "load_promotion_config",
    "load_version",
    "promote",
    "read_audit_copy",
    "read_events",
    "register_candidate",
    "reject",
    "repair_registry",
    "review_version",
    "rollback",
    "unlock",
    "verify_registry",
]
