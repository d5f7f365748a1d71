"""``dualid webhooks run``: the long-running deliverer of the webhook outbox;
``dualid webhooks status``: how many notices are pending, delivered and failed."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Annotated

import typer

from dualid.store import DEFAULT_URL

from ._common import DbOption, handle_errors, open_sdk, out

__all__ = ["webhooks_app"]

webhooks_app = typer.Typer(help="Webhook notices to hosts.", no_args_is_help=True)


@webhooks_app.command("run", short_help="Deliver webhook notices until stopped.")
@handle_errors
def run_command(
    db: DbOption = DEFAULT_URL,
    interval: Annotated[
        float, typer.Option(help="Seconds between polls when nothing is due.", min=0.05)
    ] = 1.0,
    once: Annotated[bool, typer.Option("--once", help="One run, then exit.")] = False,
    connect_timeout: Annotated[float, typer.Option(help="Seconds.", min=0.1)] = 5.0,
    read_timeout: Annotated[float, typer.Option(help="Seconds.", min=0.1)] = 15.0,
    allow_private: Annotated[
        bool,
        typer.Option(
            "--allow-private",
            help="Allow http and loopback or private targets (tests, local development).",
        ),
    ] = False,
) -> None:
    """Deliver the notices that are due, then wait for more, until SIGTERM or Ctrl-C (the
    notice in flight is finished first). Run as many as you like on PostgreSQL: they
    share the hosts (SKIP LOCKED) and never send one notice twice at once. On SQLite
    one delivers at a time. A worker killed outright loses nothing: what it was sending
    is sent again. Prints one line per run that attempted something."""
    stopping = threading.Event()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        with open_sdk(db, webhooks_allow_private=allow_private) as sdk:
            sdk.webhooks.configure(connect_timeout=connect_timeout, read_timeout=read_timeout)
            console = out()
            while not stopping.is_set():
                report = sdk.webhooks.deliver_pending()
                if report.attempted:
                    console.print(
                        f"attempted {report.attempted}: delivered {report.delivered}, "
                        f"retrying {report.retrying}, failed {report.failed}"
                        + (f", disabled {', '.join(report.disabled)}" if report.disabled else "")
                    )
                if once:
                    break
                wait = interval
                if report.next_due is not None:
                    until = (report.next_due - sdk.clock.now().time).total_seconds()
                    wait = min(interval, max(until, 0.05))
                stopping.wait(wait)
    finally:
        signal.signal(signal.SIGTERM, previous)


@webhooks_app.command("status", short_help="Count notices by status.")
@handle_errors
def status_command(db: DbOption = DEFAULT_URL) -> None:
    """How many notices are pending, delivered and failed."""
    with open_sdk(db) as sdk:
        counts = sdk.webhooks.counts()
    out().print(", ".join(f"{status} {count:,}" for status, count in counts.items()))
