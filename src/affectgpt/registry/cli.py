"""`affectgpt registry ...`: set up roles, register, review, approve/reject, promote, roll back,
verify the audit log, show history, break a stuck lease.

    affectgpt registry init     --model affectgpt --pipeline-user pipeline --reviewers bob,carol   # admin
    affectgpt registry register --run-id RUN --model affectgpt --scores runs/bench/report.json \\
        --data-rev $(git -C data rev-parse HEAD) --code-rev $(git rev-parse HEAD) --config-hash H
    affectgpt registry register --train-dir runs/tiny --model affectgpt --scores reports/unibench/report
    affectgpt registry review   --model affectgpt --version 3
    affectgpt registry approve  --model affectgpt --version 3 --comment "beats v2 on 8/9"
    affectgpt registry promote  --model affectgpt --version 3
    affectgpt registry rollback --model affectgpt --reason "complaints about MELD"
    affectgpt registry verify   --model affectgpt
    affectgpt registry history  --model affectgpt
    affectgpt registry repair   --model affectgpt --reason "restored the DB from backup"   # admin
    affectgpt registry db-upgrade                  # operators: the server's user database, before it starts

Every command acts as the user the MLflow server authenticates (MLFLOW_TRACKING_USERNAME /
MLFLOW_TRACKING_PASSWORD), and every change is a request to the server's registry gate
(`mlflow server --app-name affectgpt-gate`); on a local sqlite store it acts as
--reviewer/--actor, else $AFFECTGPT_ACTOR, else the login, and marks its decisions unauthenticated.
The MLflow store is `--tracking-uri`, else `MLFLOW_TRACKING_URI`, else `.affectgpt/mlflow.db`;
only `init` and `register` may create it: the other commands read a store that must exist and
say so (exit 4) instead of leaving an empty one behind.
Refusals print one line and exit with the documented codes (`affectgpt.errors`): 2 bad input,
3 refused by a rule, 4 not found, 5 MLflow unreachable; and 6 when verify finds discrepancies.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from affectgpt import errors
from affectgpt.bench.mode import ScorerModeName
from affectgpt.cli_common import console, friendly_errors, new_app, say_config, say_path
from affectgpt.cli_common import err_console as error_console
from affectgpt.registry.errors import InvalidInput, Refused

# MLflow's own refusals by error code, as the documented kinds (anything else: refused).
MLFLOW_ERROR_KINDS: dict[str, type[errors.AffectgptError]] = {
    "RESOURCE_DOES_NOT_EXIST": errors.NotFound,
    "INVALID_PARAMETER_VALUE": errors.BadInput,
    "BAD_REQUEST": errors.BadInput,
    "RESOURCE_ALREADY_EXISTS": errors.BadInput,
    "PERMISSION_DENIED": errors.Refused,
    "UNAUTHENTICATED": errors.BadInput,  # missing or wrong credentials: bad input, as for every service
    "TEMPORARILY_UNAVAILABLE": errors.Unavailable,
    "INTERNAL_ERROR": errors.Unavailable,
}

TrackingUri = Annotated[
    str | None,
    typer.Option(
        "--tracking-uri",
        envvar="MLFLOW_TRACKING_URI",
        help="MLflow tracking/registry URI.",
        show_default=".affectgpt/mlflow.db",
    ),
]
ModelName = Annotated[str, typer.Option("--model", "-m", help="Registered model name.")]
Version = Annotated[str, typer.Option("--version", help="Model version number.")]
Actor = Annotated[
    str | None,
    typer.Option("--actor", help="On a server: must equal the authenticated user (or leave it out). On a local "
                 "store: who is acting, unauthenticated; default $AFFECTGPT_ACTOR or the login."),
]

registry_app = new_app(
    name="registry",
    help=(
        "Model registry with an evaluation gate, four-eyes approval and an audited, "
        "check-and-set promotion of the `champion` alias (MLflow)."
    ),
    epilog=(
        "Flow: init (admin: roles and rules on the server) -> register (pipeline: a candidate with its "
        "bench report as evidence) -> review (table, lineage, HTML report; gate recomputed from the "
        "evidence) -> approve or reject (a reviewer other than the author) -> promote (gate recomputed, "
        "candidate copied into the production model, @champion moved, @previous kept) -> rollback if "
        "needed. verify checks the hash-chained audit log and every alias/approval against it; history "
        "prints it. Identity: the MLflow server's authenticated user. Store: --tracking-uri, else "
        "MLFLOW_TRACKING_URI, else .affectgpt/mlflow.db (only init and register create it). Exit codes: "
        "2 bad input, 3 refused, 4 not found, 5 MLflow unreachable, 6 discrepancies found by verify."
    ),
)


def _friendly(command: Callable) -> Callable:
    """Registry errors (and MLflow's own refusals, by their error code) become one line and the
    documented exit code (`cli_common.friendly_errors`)."""

    @functools.wraps(command)
    def translate_mlflow(*args, **kwargs):
        from mlflow.exceptions import MlflowException

        try:
            return command(*args, **kwargs)
        except MlflowException as error:
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
            kind = MLFLOW_ERROR_KINDS.get(getattr(error, "error_code", ""), errors.Refused)
            raise kind(f"MLflow refused the request: {first_line}") from None

    return friendly_errors()(translate_mlflow)


def _existing_store(tracking_uri: str | None) -> str:
    """The store URI for a command that reads or changes an existing registry (never creates one)."""
    from affectgpt.registry.connection import existing_store_uri

    return existing_store_uri(tracking_uri)


def _promotion_rules(value: Path | None, tracking_uri: str | None) -> Path | None:
    """The gate rules a new local registry starts with, by the config rule (flag > ./configs >
    packaged), said once. A server keeps the rules its administrator stored, so there only an
    explicit flag is passed on (and refused there with a clear message)."""
    from affectgpt.paths import find_config, sqlite_path
    from affectgpt.paths import tracking_uri as resolve_uri

    if value is None and sqlite_path(resolve_uri(tracking_uri, create=False)) is None:
        return None
    return say_config(find_config(value, "promotion.yaml")).path


def _parse_scores(score_items: list[str]) -> dict[str, float]:
    scores: dict[str, float] = {}
    for item in score_items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise InvalidInput(f"--score {item!r}: expected DATASET=VALUE, e.g. --score mer2023=61.5")
        try:
            scores[name.strip()] = float(value)
        except ValueError as error:
            raise InvalidInput(f"--score {item!r}: {value!r} is not a number") from error
    return scores


def _training_lineage(run_id: str | None, train_dir: Path | None) -> tuple[str, dict[str, str]]:
    """The run to register and, from a training output folder, the lineage its manifest records,
    so a person registering what `affectgpt train` just wrote types one path instead of four
    hashes. The data revision defaults to the records file's content hash the manifest keeps
    (`sha256:` + 16 hex digits, the form `pipeline run` uses for an untracked corpus)."""
    if (run_id is None) == (train_dir is None):
        raise InvalidInput("name the training run either as --run-id RUN or as --train-dir TRAIN_OUT")
    if train_dir is None:
        return str(run_id), {}
    from affectgpt.manifest import read_manifest
    from affectgpt.registry.errors import NotFound
    from affectgpt.registry.trained_model import model_lineage

    if not (train_dir / "manifest.json").is_file():
        raise NotFound(f"{train_dir / 'manifest.json'}: not found; --train-dir takes the folder "
                       "`affectgpt train --out` wrote")
    try:
        lineage = model_lineage(train_dir)
        records = read_manifest(train_dir).inputs.get("records")
    except ValueError as error:
        raise InvalidInput(str(error)) from None
    if records:
        lineage["data_rev"] = f"sha256:{str(records)[:16]}"
    return lineage["run_id"], lineage


@registry_app.command("register")
@_friendly
def register_command(
    model: ModelName,
    run_id: Annotated[
        str | None, typer.Option("--run-id", help="Training run that logged the model under 'model'.")
    ] = None,
    train_dir: Annotated[
        Path | None,
        typer.Option("--train-dir", help="Instead of --run-id: the folder `affectgpt train --out` wrote; its "
                     "manifest.json gives the run id and the defaults of --data-rev, --code-rev, --config-hash."),
    ] = None,
    data_rev: Annotated[
        str | None, typer.Option("--data-rev", help="DVC revision of data/ the model was trained on "
                                 "(with --train-dir, default sha256: of the training records it hashed).")
    ] = None,
    code_rev: Annotated[
        str | None, typer.Option("--code-rev", help="Code revision (git commit) of the training code "
                                 "(with --train-dir, default the code version its manifest records).")
    ] = None,
    config_hash: Annotated[
        str | None, typer.Option("--config-hash", help="Content hash of the training config "
                                 "(with --train-dir, default the hash its manifest records).")
    ] = None,
    scores: Annotated[
        Path | None, typer.Option("--scores", help="MER-UniBench report.json (or its folder).")
    ] = None,
    score: Annotated[
        list[str], typer.Option("--score", help="DATASET=VALUE; repeat. Instead of --scores.")
    ] = [],  # noqa: B006
    scorer_mode: Annotated[
        ScorerModeName | None, typer.Option("--scorer-mode", help="official or corrected; default: the report's mode.")
    ] = None,
    promotion_config: Annotated[
        Path | None,
        typer.Option("--promotion-config", help="Local stores only: the gate rules a new registry starts with "
                     "(default configs/promotion.yaml). A server uses the rules its administrator stored."),
    ] = None,
    submitted_by: Annotated[
        str | None,
        typer.Option("--submitted-by", help="The person who submitted the pipeline run (the author); "
                     "only the pipeline identity may name someone else."),
    ] = None,
    actor: Actor = None,
    tracking_uri: TrackingUri = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Create a candidate version from a training run (idempotent on the run); the bench report is
    stored with the run as evidence. Typed --score values are recorded as manual: never promotable."""
    from affectgpt.registry.register import register_candidate
    from affectgpt.registry.scores import load_scores

    run_id, lineage = _training_lineage(run_id, train_dir)
    data_rev, code_rev, config_hash = (data_rev or lineage.get("data_rev"), code_rev or lineage.get("code_rev"),
                                       config_hash or lineage.get("config_hash"))
    missing = [flag for flag, value in (("--data-rev", data_rev), ("--code-rev", code_rev),
                                        ("--config-hash", config_hash)) if not value]
    if missing:
        why = "not in the training manifest" if train_dir else "with --run-id"
        raise InvalidInput(f"{', '.join(missing)} required ({why})")
    if (scores is None) == (not score):
        raise InvalidInput("give the scores either as --scores report.json or as --score DATASET=VALUE ...")
    score_source: dict[str, float] | Path = scores if scores is not None else _parse_scores(score)
    mode = scorer_mode.value if scorer_mode else None
    if mode is None and scores is not None:
        mode = load_scores(scores).mode
    if not mode:
        raise InvalidInput("--scorer-mode is required (the report does not name its mode)")
    result = register_candidate(
        run_id,
        model,
        score_source,
        data_rev=data_rev,
        code_rev=code_rev,
        config_hash=config_hash,
        scorer_mode=mode,
        promotion_config=_promotion_rules(promotion_config, tracking_uri),
        tracking_uri=tracking_uri,
        actor=actor,
        submitted_by=submitted_by,
    )
    if as_json:
        console.print_json(result.model_dump_json())
        return
    state = "registered" if result.created else "already registered as"
    console.print(f"{model}: run {run_id} {state} version [bold]{result.version}[/bold]")
    console.print(f"gate: [bold]{result.verdict}[/bold]")
    for reason in result.reasons:
        console.print(f"  - {reason}", highlight=False)


@registry_app.command("review")
@_friendly
def review_command(
    model: ModelName,
    version: Version,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Folder for the HTML report (default .affectgpt/reports/registry)."),
    ] = None,
    reviewer: Actor = None,
    tracking_uri: TrackingUri = None,
) -> None:
    """Show candidate vs champion per dataset, recompute the gate from the evidence, print lineage,
    write an HTML report."""
    from affectgpt.registry.review import review_version

    result = review_version(
        model,
        version,
        out_dir=out,
        reviewer=reviewer,
        tracking_uri=_existing_store(tracking_uri),
    )
    champion_label = f"champion v{result.champion.version}" if result.champion else "champion (none)"
    from affectgpt.formatting import difference_words, points_interval
    from affectgpt.registry.review import data_revision_label, score_rows

    table = Table(title=f"{model} v{result.candidate.version} vs {champion_label} (scores in %; CI: 95 % bootstrap "
                        "interval over clips; base: the subtitle-only baseline; delta: candidate minus champion, "
                        "in points)")
    # The set's name and id never shrink (a reviewer matches them against reports); on a narrow
    # terminal the numbers wrap inside their cells instead.
    table.add_column("dataset", no_wrap=True)
    for column in (f"v{result.candidate.version}", "n", "CI", "base", "paper",
                   f"v{result.champion.version}" if result.champion else "champ", "delta", "delta CI"):
        table.add_column(column, justify="right", overflow="fold")
    for row in score_rows(result):
        table.add_row(f"{row['name']} ({row['id']})", row["candidate"], row["n"], row["interval"], row["baseline"],
                      row["paper"], row["champion"], row["delta"], row["delta_interval"],
                      style="red" if row["drop"] else "")
    console.print(table)
    gate = result.gate
    console.print(
        f"gate: [bold]{gate.verdict}[/bold] (mean {_num(gate.candidate_mean)}, 95 % interval "
        f"{points_interval(gate.mean_interval)}, vs {_num(gate.champion_mean)}; subtitle-only baseline "
        f"{_num(gate.baseline_mean)})"
        + (" [yellow]differs from the verdict at registration[/yellow]" if result.verdict_changed else "")
    )
    console.print(f"candidate minus baseline: {difference_words(gate.baseline_difference)}; "
                  f"minus champion: {difference_words(gate.champion_difference)}", highlight=False)
    for reason in gate.reasons:
        console.print(f"  - {reason}", highlight=False)
    info = result.candidate
    console.print(
        f"lineage: run {info.run_id}, author {info.author}, {data_revision_label(info.data_rev)} {info.data_rev}, "
        f"test sets revision {gate.lineage.get('unibench_rev') or info.tags.get('affectgpt.unibench_rev') or '-'}, "
        f"decoding {gate.lineage.get('decoding') or '-'}, code {info.code_rev}, config {info.config_hash}, "
        f"scorer {info.scorer_mode}",
        highlight=False,
    )
    from affectgpt.registry.review import decision_in_words

    console.print(f"decision: {decision_in_words(info, result.history) if info.approval_status else 'none yet'}",
                  highlight=False)
    say_path("report", result.report_path)


def _num(value: float | None, signed: bool = False) -> str:
    """Registry scores are already percent; deltas are percentage points."""
    from affectgpt.formatting import points

    return points(value, sign=signed)


def _decide(
    approve: bool, model: str, version: str, reviewer: str | None, comment: str, tracking_uri: str | None
) -> None:
    from affectgpt.registry.decisions import decide

    record = decide(
        model, version, reviewer=reviewer, comment=comment, approve=approve,
        tracking_uri=_existing_store(tracking_uri),
    )
    console.print(
        f"{model} v{version} {record.decision} by {record.reviewer}"
        f"{'' if record.authenticated else ' (unauthenticated)'} at {record.at} "
        f"(reviewed against champion {_version_label(record.reviewed_against)})",
        highlight=False,
    )


Reviewer = Annotated[
    str | None,
    typer.Option("--reviewer", help="On a server: must equal the authenticated user (or leave it out). On a "
                 "local store: the reviewer's name, recorded as unauthenticated. Never the author."),
]
Comment = Annotated[str, typer.Option("--comment", help="Why; kept in the audit log.")]


# approve and reject share their options on purpose: one decision, two verbs (both call _decide).
@registry_app.command("approve")
@_friendly
def approve_command(
    model: ModelName, version: Version, comment: Comment, reviewer: Reviewer = None, tracking_uri: TrackingUri = None
) -> None:
    """Approve a version for promotion (four-eyes: not by its author)."""
    _decide(True, model, version, reviewer, comment, tracking_uri)


@registry_app.command("reject")
@_friendly
def reject_command(
    model: ModelName, version: Version, comment: Comment, reviewer: Reviewer = None, tracking_uri: TrackingUri = None
) -> None:
    """Reject a version; a rejected version can never be promoted."""
    _decide(False, model, version, reviewer, comment, tracking_uri)


@registry_app.command("promote")
@_friendly
def promote_command(
    model: ModelName, version: Version, actor: Actor = None, tracking_uri: TrackingUri = None
) -> None:
    """Make candidate VERSION the champion (audit log intact, approved by a reviewer other than its
    author, gate recomputed from the evidence passes, champion unchanged since the review)."""
    from affectgpt.registry.promotion import promote

    change = promote(model, version, actor=actor, tracking_uri=_existing_store(tracking_uri))
    console.print(
        f"{model}@champion: {_version_label(change.champion_before)} -> {_version_label(change.champion)} "
        f"(candidate v{change.candidate}); "
        f"@previous = {_version_label(change.previous)}",
        highlight=False,
    )


@registry_app.command("rollback")
@_friendly
def rollback_command(
    model: ModelName,
    reason: Annotated[str, typer.Option("--reason", help="Why; kept in the audit log.")] = "",
    actor: Actor = None,
    tracking_uri: TrackingUri = None,
) -> None:
    """Restore the `previous` champion; the rolled-back version loses its approval."""
    from affectgpt.registry.promotion import rollback

    change = rollback(model, actor=actor, reason=reason, tracking_uri=_existing_store(tracking_uri))
    console.print(
        f"{model}@champion: {_version_label(change.champion_before)} -> {_version_label(change.champion)}; "
        f"@previous = {_version_label(change.previous)}",
        highlight=False,
    )


@registry_app.command("history")
@_friendly
def history_command(
    model: ModelName,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON event per line.")] = False,
    tracking_uri: TrackingUri = None,
) -> None:
    """Print the audit log (after checking it, as `verify` does): refused when the chain is broken."""
    from affectgpt.registry.audit import read_events
    from affectgpt.registry.connection import RegistryClient
    from affectgpt.registry.governance import verify_registry
    from affectgpt.registry.records import registered_model

    client = RegistryClient(_existing_store(tracking_uri))
    registered_model(client, model)
    report = verify_registry(client, model)
    if report.chain_problems:
        raise Refused(f"{model}: the audit log failed its check: " + "; ".join(report.chain_problems))
    for problem in report.discrepancies:
        error_console.print(f"[yellow]discrepancy:[/yellow] {problem}", highlight=False, soft_wrap=True)
    events = read_events(client, model)
    if as_json:
        for event in events:
            typer.echo(event.to_json_line())
        return
    console.print(f"[bold]{escape(model)}: audit log ({len(events)} events)[/]", highlight=False)
    for event in events:
        console.print(_history_lines(event), highlight=False)


# Details shown per event, in this order; each on its own line, values whole.
HISTORY_DETAILS = ("reason", "verdict", "from", "to", "comment", "run_id", "author", "reviewed_against", "rules_hash")


def _history_lines(event) -> str:
    """One event as a heading line and one indented `key: value` line per detail. Not a table:
    in a table's narrow details column at 80 columns a run id or a sha256 is folded across lines
    and cannot be pasted; here each value, hashes included, is whole on its line (the console
    never wraps it: `soft_wrap`)."""
    who = event.actor + ("" if event.authenticated else " (unauthenticated)")
    when = event.at[:19].replace("T", " ")
    lines = [f"#{event.seq}  {when}  {event.event}  {_version_label(event.version)}  {who}"]
    for key in HISTORY_DETAILS:
        value = event.details.get(key)
        if value not in (None, ""):
            lines.append(f"    {key}: {value if isinstance(value, str) else json.dumps(value)}")
    lines.append(f"    hash: {event.hash}")
    return escape("\n".join(lines))


def _version_label(version: str | None) -> str:
    """`v3`, or `none` where there was no version (the first champion, no previous)."""
    return f"v{version}" if version not in (None, "", "none") else "none"


@registry_app.command("init")
@_friendly
def init_command(
    model: ModelName,
    pipeline_user: Annotated[
        str | None, typer.Option("--pipeline-user", help="The identity the pipeline registers candidates as.")
    ] = None,
    reviewers: Annotated[str, typer.Option("--reviewers", help="Comma-separated reviewer user names.")] = "",
    admins: Annotated[str, typer.Option("--admins", help="Comma-separated extra administrators.")] = "",
    rules: Annotated[
        Path | None, typer.Option("--rules", help="Reviewed gate rules (default: the packaged configs/promotion.yaml).")
    ] = None,
    tracking_uri: TrackingUri = None,
) -> None:
    """(Administrators) create NAME, NAME-candidates, NAME-audit-copy and NAME-audit, set the server
    permissions of the pipeline identity, the reviewers and the admins, and store the gate rules.
    Re-run to change."""
    from affectgpt.paths import find_config
    from affectgpt.registry.governance import init_registry

    rules_path = say_config(find_config(rules, "promotion.yaml")).path
    state = init_registry(model, pipeline_user=pipeline_user, reviewers=reviewers.split(","),
                          admins=admins.split(","), rules_path=rules_path, tracking_uri=tracking_uri)
    console.print(
        f"{model}: pipeline {state.roles.pipeline_user or '-'}, reviewers {', '.join(state.roles.reviewers) or '-'}, "
        f"admins {', '.join(state.roles.admins) or '-'}; rules {state.rules_hash[:12]}",
        highlight=False,
    )


@registry_app.command("db-upgrade")
@_friendly
def db_upgrade_command(
    database_uri: Annotated[
        str | None, typer.Option("--database-uri", help="The user database (default: database_uri of the auth ini "
                                 "that MLFLOW_AUTH_CONFIG_PATH names, as the server reads it).")
    ] = None,
) -> None:
    """(Operators, before the server starts) bring the MLflow server's user database (basic-auth
    tables) and the registry gate's tables to this release. A no-op on a current database; the
    cluster runs it as the init container `migrate-auth`, after `mlflow db upgrade`."""
    from affectgpt.registry.gate_store import upgrade_gate_databases

    done = upgrade_gate_databases(database_uri)
    console.print(f"{done['database']}: auth schema {done['auth_revision']}, gate tables {done['gate_tables']}",
                  highlight=False)


@registry_app.command("verify")
@_friendly
def verify_command(
    model: ModelName,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    tracking_uri: TrackingUri = None,
) -> None:
    """Recompute the audit log's hash chain and check champion/previous, approvals, production
    versions, rules and registrations against it. Exits 6 naming each discrepancy."""
    from affectgpt.registry.connection import RegistryClient
    from affectgpt.registry.governance import verify_registry

    report = verify_registry(RegistryClient(_existing_store(tracking_uri)), model)
    if as_json:
        typer.echo(json.dumps({"model": model, "events": report.events, "ok": report.ok,
                               "problems": report.all_problems()}))
    else:
        for problem in report.all_problems():
            error_console.print(f"[red]discrepancy:[/red] {problem}", highlight=False, soft_wrap=True)
        state = report.state
        console.print(
            f"{model}: {report.events} events, chain {'intact' if not report.chain_problems else 'BROKEN'}, "
            f"champion {_version_label(state.champion)}, previous {_version_label(state.previous)}, "
            f"{len(report.all_problems())} discrepancies",
            highlight=False,
        )
    if not report.ok:
        raise typer.Exit(6)


@registry_app.command("unlock")
@_friendly
def unlock_command(
    model: ModelName,
    reason: Annotated[str, typer.Option("--reason", help="Why; kept in the audit log.")] = "",
    tracking_uri: TrackingUri = None,
) -> None:
    """(Administrators) break the promotion lease of MODEL now, with an `unlock` event."""
    from affectgpt.registry.governance import unlock

    broken = unlock(model, reason=reason, tracking_uri=_existing_store(tracking_uri))
    if broken is None:
        console.print(f"{model}: no promotion lease is held")
    else:
        holders = ", ".join(ticket.get("affectgpt.lock.holder", "?") for ticket in broken)
        console.print(f"{model}: released {len(broken)} lease ticket(s) held by {holders}", highlight=False)


@registry_app.command("repair")
@_friendly
def repair_command(
    model: ModelName,
    reason: Annotated[str, typer.Option("--reason", help="What happened; kept in the audit log.")] = "",
    tracking_uri: TrackingUri = None,
) -> None:
    """(Administrators) mend a broken audit log: events intact in either copy are restored, the
    rest is recorded as lost in a `repair` event naming you, and the registry accepts changes again."""
    from affectgpt.registry.repair import repair_registry

    event = repair_registry(model, reason=reason, tracking_uri=_existing_store(tracking_uri))
    lost = event.details.get("lost") or []
    console.print(f"{model}: audit log repaired by {event.actor} (event #{event.seq}); "
                  f"{len(lost)} event(s) lost{': ' + ', '.join(f'#{seq}' for seq in lost) if lost else ''}",
                  highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(registry_app, name="registry")
