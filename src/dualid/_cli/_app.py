"""The ``dualid`` Typer application: every command registered in one place."""

from __future__ import annotations

from typing import Annotated

import typer

import dualid

from ._audit import audit_app
from ._clock import clock_app, clock_audit_command
from ._consent import consent_app
from ._db import db_app
from ._demo import demo_command
from ._keys import keys_app
from ._migrate import migrate_ids_command
from ._webhooks import webhooks_app

__all__ = ["app"]

app = typer.Typer(
    name="dualid",
    help=(
        "Operate dualid: schema migrations, moving userId columns to agentIds, key "
        "rotation, audit verification, purging expired consent, webhook delivery, and the "
        "clock. Store "
        "commands take --db URL (default DUALID_DATABASE_URL, then sqlite:///./dualid.db)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Markdown: a docstring's single line breaks are soft, so help reflows to the
    # terminal's width (rich mode keeps them, in the command lists too); `code` renders.
    rich_markup_mode="markdown",
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"dualid {dualid.__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the version of dualid and exit.",
        ),
    ] = False,
) -> None:
    pass


app.command("demo")(demo_command)
app.add_typer(db_app, name="db")
app.command("migrate-ids")(migrate_ids_command)
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
app.add_typer(consent_app, name="consent")
app.add_typer(clock_app, name="clock")
app.command("clock-audit")(clock_audit_command)
app.add_typer(webhooks_app, name="webhooks")
