"""One data layer (issue 12): every statement the SDK runs is in ``dualid.store``; erasure
knows every table that holds a person's rows."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import dualid
from dualid.store._agents import AGENT_TABLES
from dualid.store._tables import metadata

PACKAGE = Path(dualid.__file__).parent
# migrate-ids rewrites the platform's own tables (not dualid's store): its SQL is about them.
OUTSIDE_THE_STORE = {PACKAGE / "tools" / "migrate_ids.py"}
# It parses the URL of the platform's database for migrate-ids (make_url), nothing more.
URL_PARSING_ONLY = {PACKAGE / "_cli" / "_migrate.py"}
_SQL = re.compile(r"^\s*(SELECT|INSERT INTO|UPDATE \w+ SET|DELETE FROM|WITH \w+ AS)\b")
_DB_CALLS = {"query", "execute", "executemany", "exec_driver_sql"}


def _modules_outside_the_store() -> list[Path]:
    return [
        p
        for p in sorted(PACKAGE.rglob("*.py"))
        if (PACKAGE / "store") not in p.parents and p not in OUTSIDE_THE_STORE
    ]


def test_no_sql_outside_the_store() -> None:
    found = []
    for path in _modules_outside_the_store():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if _SQL.match(node.value):
                    found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: SQL text")
            elif isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names]
                module = node.module if isinstance(node, ast.ImportFrom) else None
                imports_it = any(n.split(".")[0] == "sqlalchemy" for n in [module or "", *names])
                if imports_it and path not in URL_PARSING_ONLY:
                    found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: imports sqlalchemy")
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in _DB_CALLS
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id in {"db", "conn"}
            ):
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: runs a statement")
    assert found == []


def test_the_scan_finds_what_it_looks_for() -> None:
    # The patterns above match the forms they are meant to catch.
    assert _SQL.match("SELECT agent_id FROM dualid_agent")
    assert _SQL.match(" DELETE FROM dualid_sealed WHERE record_id = ?")
    assert _SQL.match("UPDATE dualid_grant SET revoked_at = ?")
    assert not _SQL.match("Select the fields to share")
    assert not _SQL.match("update the profile")


def test_erasure_knows_every_table_with_a_persons_rows() -> None:
    with_agent = {t.name for t in metadata.sorted_tables if "agent_id" in t.columns}
    assert with_agent == set(AGENT_TABLES)
    assert AGENT_TABLES[0] == "dualid_agent_key"  # crypto-shredding: the key goes first
    assert AGENT_TABLES[-1] == "dualid_agent"  # the person's lock row goes last
