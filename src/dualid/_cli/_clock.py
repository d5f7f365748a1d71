"""``dualid clock status`` and ``dualid clock-audit``."""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from dualid.clock import parse_servers
from dualid.errors import InvalidInput
from dualid.tools.clock_audit import Priority, scan

from ._common import EXIT_ERROR, EXIT_FAILED, handle_errors, out

__all__ = ["DEFAULT_SERVERS", "clock_app", "clock_audit_command"]

#: Used when neither --servers nor DUALID_NTP_SERVERS is given. All non-smearing pool
#: servers: mixing leap-smearing servers (Google's) with others skews the selection.
DEFAULT_SERVERS = ("0.pool.ntp.org", "1.pool.ntp.org", "2.pool.ntp.org", "3.pool.ntp.org")
SERVERS_ENV = "DUALID_NTP_SERVERS"

clock_app = typer.Typer(
    help="Time: dualid's AtomicClock (NTP-synced, with an honest error bound).",
    no_args_is_help=True,
)


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:+.3f}"


def _plain_ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.3f}"


def _servers(values: list[str] | None) -> list[str]:
    """The servers of every ``--servers`` (or ``DUALID_NTP_SERVERS``), which may each hold
    several, separated by commas and/or whitespace. Given but naming no server, or with a
    malformed entry, is an error naming it: never a silent fall back to the public pool."""
    if values is None:
        return list(DEFAULT_SERVERS)
    try:
        # click hands the environment variable over split on whitespace: join it back.
        return parse_servers(" ".join(values))
    except ValueError as exc:
        raise InvalidInput(f"--servers ({SERVERS_ENV}): {exc}", field="servers") from None


@clock_app.command("status")
@handle_errors
def status_command(
    servers: Annotated[
        list[str] | None,
        typer.Option(
            "--servers",
            "-s",
            metavar="HOST[:PORT]",
            envvar=SERVERS_ENV,
            help=(
                "NTP servers, host[:port] or [IPv6]:port (repeat the option, or separate "
                f"with commas or spaces; env {SERVERS_ENV}). Default: "
                f"{', '.join(DEFAULT_SERVERS)}."
            ),
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option(min=0.05, max=30.0, help="Seconds to wait for replies per round.")
    ] = 2.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Sync with NTP once and print the per-server table, the selected offset, the error
    bound, the learned drift and the status. Exit 0 when SYNCED, 1 otherwise."""
    from dualid import clock as clock_module
    from dualid.clock import ClockStatus

    atomic = getattr(clock_module, "AtomicClock", None)
    if atomic is None:  # pragma: no cover - every release ships AtomicClock
        reading = clock_module.SystemClock().now()
        out().print(
            f"AtomicClock is not available in this build; system clock: {reading.status.value}"
        )
        raise typer.Exit(EXIT_FAILED)
    clock: Any = atomic(servers=_servers(servers), timeout=timeout)
    try:
        report = clock.sync()
        state = clock.state()
    finally:
        clock.close()
    if as_json:
        typer.echo(json.dumps({"sync": report.to_dict(), "state": state.to_dict()}, indent=2))
    else:
        _print_status(report, state)
    if state.status != ClockStatus.SYNCED:
        raise typer.Exit(EXIT_FAILED)


def _print_status(report: Any, state: Any) -> None:
    console = out()
    table = Table(
        "server",
        "address",
        "reach",
        "offset ms",
        "delay ms",
        "jitter ms",
        "root dist ms",
        "selection",
        "note",
        title="NTP servers",
    )
    for srv in state.servers:
        note = (srv.kod and f"kiss {srv.kod}") or srv.last_error or ""
        table.add_row(
            srv.server,
            srv.address or "-",
            f"{srv.reach:03o}",
            _ms(srv.offset),
            _plain_ms(srv.delay),
            _plain_ms(srv.jitter),
            _plain_ms(srv.root_distance),
            srv.selection,
            note,
        )
    console.print(table)
    console.print(f"status:   {state.status.value}")
    console.print(f"time:     {state.time.isoformat(timespec='microseconds')}")
    console.print(f"offset:   {_ms(report.offset)} ms (selected, vs. the local timeline)")
    console.print(f"bound:    ±{state.bound * 1000:.3f} ms")
    learned = "learned" if state.frequency_learned else "not learned yet"
    console.print(
        f"drift:    {state.frequency_ppm:+.3f} ppm ± {state.skew_ppm:.3f} ppm ({learned})"
    )
    console.print(
        f"sources:  {len(report.truechimers)} truechimer(s), "
        f"{len(report.falsetickers)} falseticker(s); {report.packets_sent} packets sent"
    )
    if report.error:
        console.print(f"sync:     failed: {report.error}")


class OutputFormat(enum.StrEnum):
    text = "text"
    json = "json"


@handle_errors
def clock_audit_command(
    paths: Annotated[
        list[Path], typer.Argument(metavar="PATH...", help="Files or folders to scan.")
    ],
    output: Annotated[
        OutputFormat, typer.Option("--format", help="Report format.")
    ] = OutputFormat.text,
    allow: Annotated[
        list[str] | None,
        typer.Option(
            "--allow",
            metavar="GLOB",
            help="Exempt matching paths (repeatable), e.g. 'src/dualid/clock/*'.",
        ),
    ] = None,
) -> None:
    """List every wall-clock read (datetime.now/utcnow/today, date.today, time.time,
    time.time_ns, however imported or looked up with getattr) with file, line and a priority
    guess. Exit 1 when any is found (a CI gate), 0 when none, 2 when a file cannot be
    parsed."""
    result = scan(paths, allow=allow or ())
    if output is OutputFormat.json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
    else:
        for f in result.findings:
            how = f.text if f.kind == "call" else f"{f.text} (passed, not called)"
            typer.echo(
                f"{f.path}:{f.line}:{f.column}: {f.call} as {how} [{f.priority.value}] in {f.scope}"
            )
        counts = {p: 0 for p in Priority}
        for f in result.findings:
            counts[f.priority] += 1
        summary = ", ".join(f"{p.value} {n}" for p, n in counts.items() if n)
        typer.echo(
            f"{len(result.findings)} wall-clock read(s) in {result.files} file(s)"
            + (f": {summary}" if summary else "")
        )
    for path, error in result.errors:
        typer.echo(f"dualid: error: cannot parse {path}: {error}", err=True)
    if result.errors:
        raise typer.Exit(EXIT_ERROR)
    if result.findings:
        raise typer.Exit(EXIT_FAILED)
