"""``dualid demo``: the dual identity end to end, on a made-up person.

Runs in an empty folder with no configuration: the embedded SQLite default
(``./dualid.db``) and a 0600 key file beside it. It prints the made-up person's data and
agentId on purpose (that is the demonstration); it never reads anyone else's.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from dualid.errors import DualIdError, NotFound
from dualid.models import DataField, EventType, EventUserData, HostKind
from dualid.store import DEFAULT_URL
from dualid.store._agents import user_index_of
from dualid.store._sealed import sealed_of_agent

from ._common import handle_errors, out

if TYPE_CHECKING:
    from dualid.sdk import DualId

__all__ = ["demo_command"]

_PERSON = EventUserData(
    name="Ana Example",
    phone_number="+14155552671",
    email="ana@example.com",
)
_HOST_ID = "demo-bistro"


def _hex(data: bytes, limit: int = 24) -> str:
    text = data[:limit].hex(" ")
    return text + (" …" if len(data) > limit else "")


def _files_of(sdk: DualId) -> list[Path]:
    path = sdk.store.sqlite_path
    if path is None:
        return []
    return [p for p in (path, path.with_name(path.name + "-wal")) if p.exists()]


def _show_data(console: Console, data: EventUserData) -> str:
    parts = [
        f"{f.value}={getattr(data, f.value)}"
        for f in (DataField.NAME, DataField.PHONE_NUMBER, DataField.EMAIL)
        if getattr(data, f.value) is not None
    ]
    return ", ".join(parts) or "(nothing)"


def _host_view(console: Console, sdk: Any, event_id: str, title: str) -> None:
    attendees = sdk.events.attendees(_HOST_ID, event_id)
    view = Table("ref (pairwise, not the agentId)", "data the host sees", "shared at", title=title)
    for attendee in attendees:
        shared = attendee.shared_at.isoformat(timespec="seconds") if attendee.shared_at else "-"
        view.add_row(attendee.ref, _show_data(console, attendee.data), shared)
    if not attendees:
        view.add_row("-", "(no attendees)", "-")
    console.print(view)


def _consent_part(console: Console, sdk: Any, agent_id: str, run: str) -> None:
    event_id = f"res-{run}"
    console.rule("4. A host, a registration, and what the host sees")
    sdk.hosts.register(_HOST_ID, kind=HostKind.BUSINESS, name="Demo Bistro", exist_ok=True)
    sdk.hosts.require(
        _HOST_ID,
        EventType.RESERVATION,
        required={DataField.NAME, DataField.PHONE_NUMBER},
        optional={DataField.EMAIL},
        purpose="table booking",
    )
    console.print(
        f"host {_HOST_ID} requires name + phone_number for reservations, may ask for email"
    )
    sdk.events.register(
        agent_id,
        _HOST_ID,
        EventType.RESERVATION,
        event_id,
        share={DataField.NAME, DataField.PHONE_NUMBER},
    )
    console.print(f"Ana books {event_id}, sharing name and phone_number (not email)")
    _host_view(console, sdk, event_id, "host view")

    console.rule("5. A later grant, then its revocation")
    grant = sdk.consent.grant(
        agent_id,
        _HOST_ID,
        fields={DataField.EMAIL},
        event_id=event_id,
        purpose="booking confirmation",
    )
    console.print(f"Ana grants email for {event_id} (grant {grant.id})")
    _host_view(console, sdk, event_id, "host view after the grant")
    sdk.consent.revoke(grant.id)
    console.print("Ana revokes that grant")
    _host_view(console, sdk, event_id, "host view after the revocation")


def _run_demo(sdk: DualId) -> None:
    console = out()
    run = secrets.token_hex(3)
    user_id = f"demo-user-{run}"
    where = sdk.store.sqlite_path or "the configured database"
    console.rule("dualid demo")
    console.print(f"database: {where}")
    console.print(
        "a made-up person, Ana Example, with the platform userId "
        f"{user_id!r}; nothing else in the database is read or shown."
    )

    console.rule("1. Identity: userId -> agentId")
    agent_id = sdk.identity.agent_for(user_id)
    again = sdk.identity.agent_for(user_id)
    console.print(f"{user_id} -> {agent_id}   (agentId: internal, never shown to hosts)")
    console.print(f"asking again gives the same agentId: {again == agent_id}")

    console.rule("2. An encrypted profile")
    sdk.profiles.put(agent_id, _PERSON)
    console.print(f"stored: {_show_data(console, _PERSON)}")

    console.rule("3. What the database holds vs what the SDK returns")
    with sdk.store.read() as conn:
        index = user_index_of(conn, agent_id)
        sealed = sealed_of_agent(conn, agent_id)
    assert index is not None
    console.print(
        f"dualid_agent.user_index = {_hex(bytes(index), 16)}  "
        "(keyed HMAC blind index of the userId, not the userId, not a plain hash)"
    )
    raw = Table("record", "field", "bytes", "ciphertext (AES-256-GCM, bound to agent+field)")
    for record_id, field, blob in sealed:
        kind = "profile" if record_id.startswith("p:") else "userId"
        raw.add_row(kind, field, str(len(blob)), _hex(bytes(blob)))
    console.print(raw)
    files = _files_of(sdk)
    if files:
        dump = b"".join(p.read_bytes() for p in files)
        secrets_in_clear = [
            v for v in (_PERSON.name, _PERSON.phone_number, _PERSON.email, user_id) if v
        ]
        found = [v for v in secrets_in_clear if str(v).encode() in dump]
        verdict = "FOUND (this is a bug)" if found else "none of them"
        console.print(
            f"name, phone, email or userId in plaintext in {', '.join(p.name for p in files)}: "
            f"{verdict}"
        )
    got = sdk.profiles.get(agent_id)
    console.print(f"what the SDK returns: {_show_data(console, got or EventUserData())}")

    has_consent = all(hasattr(sdk, name) for name in ("hosts", "events", "consent"))
    if has_consent:
        _consent_part(console, sdk, agent_id, run)
    erase_step = 6 if has_consent else 4

    console.rule(f"{erase_step}. Erasure (crypto-shredding)")
    report = sdk.erase(agent_id)
    console.print(f"erased: data key destroyed, {report.rows_deleted} rows deleted")
    try:
        sdk.profiles.get(agent_id)
        console.print("profile after erasure: still readable (this is a bug)")
    except DualIdError as exc:
        console.print(f"profile after erasure: unreadable [{exc.code}]")
    console.print(
        "the ciphertexts shown above, if copied to a backup, can no longer be decrypted: "
        "their data key is gone"
    )
    if has_consent:
        try:
            _host_view(console, sdk, f"res-{run}", "host view after erasure")
        except NotFound:
            console.print("host view after erasure: the event has no attendees any more")

    console.rule(f"{erase_step + 1}. Audit trail")
    verdict_audit = sdk.audit.verify()
    state = "intact" if verdict_audit.ok else f"BROKEN at seq {verdict_audit.first_bad}"
    console.print(f"hash chain {state}: {verdict_audit.entries} entries")
    actions = [r.action for r in sdk.audit.entries(subject=agent_id)]
    console.print(f"entries about Ana (actions only, PII-free): {', '.join(actions)}")

    console.rule(f"{erase_step + 2}. Time")
    reading = sdk.clock.now()
    console.print(
        f"every timestamp above came from one clock: {reading.status.value}, "
        f"±{reading.uncertainty.total_seconds():g} s (`dualid clock status` syncs with NTP)"
    )


@handle_errors
def demo_command(
    db: Annotated[
        str,
        typer.Option(
            "--db",
            metavar="URL",
            help=(
                "Where to run the demo. Deliberately not read from DUALID_DATABASE_URL, so "
                "the made-up person never lands in a configured database by accident."
            ),
        ),
    ] = DEFAULT_URL,
) -> None:
    """Show the dual identity end to end on a made-up person: agentId mapping, an
    encrypted profile, what the database holds, consent and the host's view, erasure,
    audit verification. Works in an empty folder with no configuration."""
    from dualid.crypto import LocalKeyProvider
    from dualid.sdk import DualId
    from dualid.store import Store

    keys: LocalKeyProvider | None = None
    probe = Store(db)
    try:
        path = probe.sqlite_path
        if path is not None:
            key_file = path.with_name(path.name + ".key")
            # A key file of its own, even when DUALID_MASTER_KEY is set, unless the
            # database already exists without one (then its key is the configured one).
            if key_file.exists() or not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                keys = LocalKeyProvider.from_file(key_file, create=True)
    finally:
        probe.dispose()
    with DualId.open(db, keys=keys) as sdk:
        _run_demo(sdk)
