"""``dualid audit verify --deep`` (no master key: an auditor runs it on a copy) and
``dualid audit seal-grants``; ``dualid db upgrade`` says when grants wait for sealing."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from dualid import DataField, DualId, EventType, EventUserData, HostKind, generate_master_key

from .conftest import Run

KEY = generate_master_key()


@pytest.fixture
def url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/dualid.db"
    with DualId.open(url, keys=KEY) as sdk:
        sdk.hosts.register("bistro", kind=HostKind.BUSINESS, name="Bistro")
        sdk.hosts.require(
            "bistro",
            EventType.RESERVATION,
            required={DataField.NAME},
            optional={DataField.EMAIL},
            purpose="booking",
        )
        agent = sdk.identity.agent_for("ana")
        sdk.profiles.put(agent, EventUserData(name="Ana", email="ana@example.com"))
        sdk.events.register(agent, "bistro", EventType.RESERVATION, "res-1", share={"name"})
        grant = sdk.consent.grant(agent, "bistro", fields={"email"}, purpose="mail")
        sdk.consent.revoke(grant.id)
    return url


def _execute(url: str, sql: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(sql))
    finally:
        engine.dispose()


def test_deep_verify_passes_then_names_an_unrevoked_grant(cli: Run, url: str) -> None:
    ok = cli("audit", "verify", "--db", url, "--deep")  # no DUALID_MASTER_KEY
    assert ok.exit_code == 0, ok.output
    assert "consent state agrees with the log: 2 grants, 1 registrations" in ok.stdout
    _execute(url, "UPDATE dualid_grant SET revoked_at = NULL WHERE revoked_at IS NOT NULL")
    assert cli("audit", "verify", "--db", url).exit_code == 0  # the chain alone is whole
    bad = cli("audit", "verify", "--db", url, "--deep")
    assert bad.exit_code == 1
    assert "STATE_MISMATCH" in bad.stdout
    assert "dualid_grant row gr_" in bad.stdout
    assert "not revoked, but the log revoked it" in " ".join(bad.stdout.split())
    assert "Ana" not in bad.stdout
    assert "agt_" not in bad.stdout


def test_seal_grants_after_a_separate_upgrade(
    cli: Run, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # below 0011 the shared copies are re-sealed field by field: with the key
    down = cli(
        "db",
        "downgrade",
        "0006_audit_partitions",
        "--db",
        url,
        "--yes",
        env={"DUALID_MASTER_KEY": KEY},
    )
    assert down.exit_code == 0, down.output
    upgraded = cli("db", "upgrade", "--db", url)
    assert upgraded.exit_code == 0, upgraded.output
    assert "2 grants have no MAC yet" in upgraded.stdout
    assert "dualid audit seal-grants" in upgraded.stdout
    monkeypatch.setenv("DUALID_MASTER_KEY", KEY)
    sealed = cli("audit", "seal-grants", "--db", url)
    assert sealed.exit_code == 0, sealed.output
    assert "sealed 2 grants" in sealed.stdout
    again = cli("audit", "seal-grants", "--db", url)
    assert (again.exit_code, "sealed 0 grants" in again.stdout) == (0, True)


def test_seal_grants_refuses_a_row_the_log_does_not_explain(
    cli: Run, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _execute(
        url, "UPDATE dualid_grant SET fields = 'email,name', mac = NULL WHERE event_id = 'res-1'"
    )
    monkeypatch.setenv("DUALID_MASTER_KEY", KEY)
    refused = cli("audit", "seal-grants", "--db", url)
    assert refused.exit_code == 1
    assert "REFUSED 1 grants" in refused.stdout
    assert "gr_" in refused.stdout
