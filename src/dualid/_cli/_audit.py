"""``dualid audit``: verify the log (against a witnessed checkpoint), sign checkpoints,
print the log's public key, prove an entry's inclusion."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from dualid.audit import Checkpoint, FileWitness, verify_chain
from dualid.audit._checkpoint import load_public_keys, verifier_key
from dualid.audit._service import state_report
from dualid.audit._state import collector_paused
from dualid.consent._replay import ConsentReplay
from dualid.errors import InvalidCheckpoint, SchemaOutOfDate
from dualid.store import DEFAULT_URL, current
from dualid.store._audit import begin_snapshot

from ._common import (
    EXIT_FAILED,
    DbOption,
    KeysOption,
    echo_signing_keys,
    fail,
    handle_errors,
    open_sdk,
    open_store,
    out,
    progress,
    read_text,
)

__all__ = ["audit_app"]

audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)


def _read_checkpoint(path: Path) -> Checkpoint:
    """A checkpoint's signed-note text, or the last one of a :class:`FileWitness` file."""
    text = read_text(path, "checkpoint")
    if text.lstrip().startswith("{"):
        latest = FileWitness(path).latest()
        if latest is None:
            raise fail(f"{path} holds no checkpoint")
        return latest
    return Checkpoint.parse(text)


CheckpointOption = Annotated[
    Path | None,
    typer.Option(
        "--checkpoint",
        help="A checkpoint (its text, or a FileWitness file: the last one) the log must "
        "still contain exactly. Needs --public-key.",
        dir_okay=False,
    ),
]
PublicKeyOption = Annotated[
    Path | None,
    typer.Option(
        "--public-key",
        help="The log's public key (PEM or verifier key, from `dualid audit public-key`); "
        "a file of several (`dualid audit public-key --all`): the checkpoint must be signed "
        "by one of them.",
        dir_okay=False,
    ),
]


@audit_app.command("verify")
@handle_errors
def verify_command(
    db: DbOption = DEFAULT_URL,
    batch: Annotated[
        int, typer.Option(min=100, max=100_000, help="Entries read per query.")
    ] = 5000,
    checkpoint: CheckpointOption = None,
    public_key: PublicKeyOption = None,
    deep: Annotated[
        bool,
        typer.Option(
            "--deep",
            help="Also replay the log and check that the consent tables (grants, "
            "registrations, shared copies) agree with it.",
        ),
    ] = False,
) -> None:
    """Check every partition's positions, links, hashes and head. With --checkpoint, also
    that the log still holds exactly what the checkpoint committed to (not truncated,
    rewound or rewritten since). With --deep, also that every grant, revocation, expiry,
    registration and shared value in the tables is as the log records it
    (STATE_MISMATCH names the table and row). Exit 0 when the log is whole; 1 with the
    problem and the first bad entry or row otherwise. Needs no master key: an auditor can
    run it on a copy of the database with the public key."""
    against = None
    if checkpoint is not None:
        if public_key is None:
            raise fail("--checkpoint needs --public-key (from `dualid audit public-key`)")
        against = _read_checkpoint(checkpoint)
        keys = load_public_keys(read_text(public_key, "public key"))
        if not any(against.verify_signature(key) for key in keys):
            raise InvalidCheckpoint("the checkpoint is not signed by this public key")
    with open_store(db) as store:
        if current(store) is None:
            raise SchemaOutOfDate("the database has no dualid schema; run `dualid db upgrade`")
        state = None
        with store.read() as conn:
            if deep:
                begin_snapshot(conn)  # the chains and the tables in one snapshot
            replay = ConsentReplay() if deep else None
            with progress("verifying", "entries") as update, collector_paused(deep):
                report = verify_chain(
                    conn,
                    batch=batch,
                    progress=update,
                    checkpoint=against,
                    visit=None if replay is None else replay.visit,
                )
                if replay is not None and report.ok:
                    state = replay.finish(conn, batch)
                    report = state_report(report, state)
    console = out()
    against_text = f", checkpoint of {against.size:,} entries" if against is not None else ""
    if report.ok:
        console.print(
            f"audit chain intact: {report.entries:,} entries (head seq {report.head_seq}"
            f"{against_text})"
        )
        if state is not None:
            console.print(
                f"consent state agrees with the log: {state.grants:,} grants, "
                f"{state.registrations:,} registrations, {state.shared_values:,} shared values"
            )
        return
    if report.table is not None:
        console.print(f"consent state DISAGREES with the log ({report.problem}): {report.reason}")
        raise typer.Exit(EXIT_FAILED)
    where = f" at seq {report.first_bad}" if report.first_bad is not None else ""
    part = f" in partition {report.partition}" if report.partition is not None else ""
    console.print(
        f"audit chain BROKEN{where}{part} ({report.problem}): {report.reason} "
        f"({report.entries:,} entries verified before it, head seq {report.head_seq}"
        f"{against_text})"
    )
    raise typer.Exit(EXIT_FAILED)


@audit_app.command("seal-grants")
@handle_errors
def seal_grants_command(db: DbOption = DEFAULT_URL, keys: KeysOption = None) -> None:
    """Give the grants from before migration 0007 their MAC, each once the audit log's
    replay shows it exactly as logged; until then hosts see nothing they share. A grant
    the log does not explain is refused (named by id) and stays untrusted: exit 1. Needs
    the master key. DualId.open does it itself when it runs that migration; run this
    after a separate `dualid db upgrade`."""
    with open_sdk(db, keys=keys) as sdk:
        report = sdk.consent.seal_grants()
    console = out()
    console.print(f"sealed {report.sealed:,} grants")
    if report.refused:
        shown = ", ".join(report.refused[:20])
        more = f" and {len(report.refused) - 20:,} more" if len(report.refused) > 20 else ""
        console.print(
            f"REFUSED {len(report.refused):,} grants the audit log does not record as they "
            f"stand (they share nothing; `dualid audit verify --deep` says why): {shown}{more}"
        )
        raise typer.Exit(EXIT_FAILED)


@audit_app.command("public-key")
@handle_errors
def public_key_command(
    db: DbOption = DEFAULT_URL,
    keys: KeysOption = None,
    verifier: Annotated[
        bool, typer.Option("--verifier", help="Print the C2SP signed-note verifier key.")
    ] = False,
    every: Annotated[
        bool,
        typer.Option(
            "--all",
            help="Every key that has signed checkpoints, current first (after `dualid keys "
            "rotate-signing`): what the retired ones signed before their retirement still "
            "verifies.",
        ),
    ] = False,
) -> None:
    """Print the key that signs this log's checkpoints (PEM): give it to auditors and
    witnesses. Needs the master key (DUALID_MASTER_KEY)."""
    with open_sdk(db, keys=keys) as sdk:
        if not every:
            typer.echo((sdk.audit.verifier_key() if verifier else sdk.audit.public_key()).rstrip())
            return
        signing_keys, origin = sdk.audit.public_keys(), sdk.audit.origin
    if verifier:
        for key in signing_keys:
            typer.echo(verifier_key(origin, key.public_key()))
    else:
        echo_signing_keys(signing_keys, pem=True)


@audit_app.command("checkpoint")
@handle_errors
def checkpoint_command(
    db: DbOption = DEFAULT_URL,
    keys: KeysOption = None,
    witness_file: Annotated[
        Path | None,
        typer.Option(
            "--witness-file", help="Also append it to this FileWitness file.", dir_okay=False
        ),
    ] = None,
) -> None:
    """Sign a checkpoint of the log as it stands, keep it in the database and print it
    (C2SP signed note). Needs the master key."""
    with open_sdk(db, keys=keys) as sdk:
        if witness_file is not None:
            sdk.audit.witness = FileWitness(witness_file)
        checkpoint = sdk.audit.checkpoint()
    typer.echo(str(checkpoint), nl=False)


@audit_app.command("prove")
@handle_errors
def prove_command(
    seq: Annotated[int, typer.Argument(min=1, help="The entry's sequence number.")],
    checkpoint: Annotated[
        Path, typer.Option("--checkpoint", help="The checkpoint to prove it in.", dir_okay=False)
    ],
    db: DbOption = DEFAULT_URL,
    keys: KeysOption = None,
) -> None:
    """Print, as JSON, entry SEQ and the proof that it is in the log the checkpoint
    commits to; `dualid.audit.verify_inclusion` checks it without the database."""
    against = _read_checkpoint(checkpoint)
    with open_sdk(db, keys=keys) as sdk:
        proof = sdk.audit.prove(seq, against)
        (entry,) = sdk.audit.entries(after=seq - 1, limit=1)
    doc = {
        "entry": {"seq": entry.seq, "body": entry.body, "prevHash": entry.prev_hash},
        "proof": proof.to_dict(),
        "checkpoint": str(against),
    }
    typer.echo(json.dumps(doc, indent=2))
