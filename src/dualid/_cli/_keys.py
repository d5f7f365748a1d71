"""``dualid keys``: master-key rotation and which key versions are still in use; rotation
of the derived keys (the blind index's, the receipt and checkpoint signing keys)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer
from rich.table import Table

from dualid.store import DEFAULT_URL

from ._common import (
    EXIT_FAILED,
    DbOption,
    KeysOption,
    batch_option,
    echo_signing_keys,
    handle_errors,
    open_sdk,
    open_sdk_with_progress,
    out,
)

__all__ = ["keys_app"]


class SigningKeys(StrEnum):
    RECEIPTS = "receipts"
    CHECKPOINTS = "checkpoints"


keys_app = typer.Typer(
    help=(
        "Master keys (--keys URI, DUALID_KEYS or DUALID_MASTER_KEY; the first key "
        "primary). To rotate: put the new key first, run `dualid keys rotate`, check "
        "`dualid keys status`, then remove the old key. Derived keys: `dualid keys "
        "rotate-index` (the blind index of userIds), `dualid keys rotate-signing` "
        "(receipts, checkpoints)."
    ),
    no_args_is_help=True,
)


@keys_app.command("status")
@handle_errors
def status_command(db: DbOption = DEFAULT_URL, keys: KeysOption = None) -> None:
    """Show the configured key ids, how many wrapped keys each protects, and which can
    be removed."""
    with open_sdk(db, keys=keys) as sdk:
        status = sdk.keys.status()
    table = Table("key id", "role", "wrapped keys", "removable")
    for key_id in status.configured:
        role = "primary" if key_id == status.primary_id else "old"
        table.add_row(
            key_id,
            role,
            f"{status.in_use.get(key_id, 0):,}",
            "yes" if key_id in status.removable else "no",
        )
    unknown = sorted(k for k in status.in_use if k not in status.configured)
    for key_id in unknown:
        table.add_row(key_id, "NOT CONFIGURED", f"{status.in_use[key_id]:,}", "no")
    console = out()
    console.print(table)
    not_primary = sum(n for k, n in status.in_use.items() if k != status.primary_id)
    if unknown:
        console.print(
            f"{len(unknown)} key id(s) in use are not configured: data under them cannot "
            "be read until they are added back."
        )
    elif not_primary:
        console.print(
            f"{not_primary:,} wrapped keys are not under the primary: run `dualid keys rotate`."
        )
    else:
        console.print("Every wrapped key is under the primary key.")
    index = status.index
    if index.rotating:
        console.print(
            f"blind-index key: generation {index.generation}, rotation from generation "
            f"{index.rotating_from} running ({index.remaining:,} agents left): run "
            "`dualid keys rotate-index` to finish it."
        )
    else:
        console.print(f"blind-index key: generation {index.generation}")
    signing = Table("signing key", "generation", "key id", "state")
    for key in status.signing:
        state = "current" if key.current else f"retired {key.retired_at:%Y-%m-%d %H:%M:%S}"
        signing.add_row(key.purpose, str(key.generation), key.key_id, state)
    console.print(signing)


@keys_app.command("rotate")
@handle_errors
def rotate_command(
    db: DbOption = DEFAULT_URL,
    keys: KeysOption = None,
    batch: Annotated[int, batch_option("Keys re-wrapped")] = 500,
) -> None:
    """Re-wrap every data key under the primary master key, a batch per transaction.
    Field ciphertexts are untouched. Interrupted, rerun it: it continues where it
    stopped."""
    with open_sdk_with_progress(db, keys, "re-wrapping", "keys") as (sdk, update):
        report = sdk.keys.rotate(batch=batch, progress=update)
    console = out()
    console.print(f"re-wrapped {report.rewrapped:,} keys under {report.primary_id}")
    if report.remaining:
        console.print(f"{report.remaining:,} keys are still under other keys: run it again")
        raise typer.Exit(EXIT_FAILED)
    else:
        console.print("every wrapped key is under the primary; see `dualid keys status`")


@keys_app.command("rotate-index")
@handle_errors
def rotate_index_command(
    db: DbOption = DEFAULT_URL,
    keys: KeysOption = None,
    batch: Annotated[int, batch_option("Agents re-indexed")] = 500,
    to: Annotated[
        int | None,
        typer.Option(
            min=2,
            help="The generation to reach: run again once it is reached, it does nothing.",
        ),
    ] = None,
) -> None:
    """Re-compute every agent's userId blind index under a new blind-index key, a batch
    per transaction, while the service runs (lookups try the old key and the new one until
    it finishes). Interrupted, rerun it: it continues where it stopped."""
    with open_sdk_with_progress(db, keys, "re-indexing", "agents") as (sdk, update):
        report = sdk.keys.rotate_index(to=to, batch=batch, progress=update)
    console = out()
    console.print(
        f"re-indexed {report.reindexed:,} agents: every agent is indexed under blind-index "
        f"key generation {report.generation}"
    )
    if report.retired is not None:
        console.print(f"generation {report.retired} is retired")


@keys_app.command("rotate-signing")
@handle_errors
def rotate_signing_command(
    db: DbOption = DEFAULT_URL,
    keys: KeysOption = None,
    only: Annotated[
        SigningKeys | None,
        typer.Option(help="Rotate only this key (default: both)."),
    ] = None,
) -> None:
    """Replace the keys that sign consent receipts and audit checkpoints by new random
    ones. The old public keys are kept: what they signed before still verifies (`dualid
    audit public-key --all` lists them; give the new one to your auditors and witnesses)."""
    with open_sdk(db, keys=keys) as sdk:
        new = sdk.keys.rotate_signing(
            receipts=only in (None, SigningKeys.RECEIPTS),
            checkpoints=only in (None, SigningKeys.CHECKPOINTS),
        )
    echo_signing_keys(new)
