"""Shared fixtures.

PostgreSQL: set ``DUALID_TEST_POSTGRES_URL`` (an admin URL, e.g.
``postgresql://postgres@127.0.0.1:5432/postgres``) to make the PostgreSQL tests required:
they fail, never skip, when the server is unreachable. Unset, the tests try the local
default server and skip with the reason when it is not there. Each test session gets a
database of its own, and each test a clean schema.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from dualid import DualId, generate_master_key
from dualid.testing import FakeClock

# Timing belongs in bench/, not in tests: no per-example deadline and no "too slow" health
# check, which fail on a loaded machine whatever the code does (explicit @settings inherit
# this profile).
settings.register_profile("dualid", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("dualid")

PG_ENV = "DUALID_TEST_POSTGRES_URL"
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _pg_admin_url() -> tuple[str, bool]:
    url = os.environ.get(PG_ENV, "").strip()
    return (url or PG_DEFAULT), bool(url)


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session; its URL."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    from dualid.store import normalise_url

    admin_url, required = _pg_admin_url()
    admin_url = normalise_url(admin_url)
    try:
        engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except Exception as exc:
        if required:
            pytest.fail(f"{PG_ENV} is set but PostgreSQL is unreachable: {exc}")
        pytest.skip(f"no PostgreSQL server at {PG_DEFAULT} (set {PG_ENV} to require one)")
    name = f"dualid_test_{secrets.token_hex(4)}"
    with engine.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
            )
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        engine.dispose()


@pytest.fixture
def postgres_url(postgres_database: str) -> str:
    """The session database with an empty ``public`` schema."""
    import sqlalchemy as sa

    engine = sa.create_engine(postgres_database, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()
    return postgres_database


@pytest.fixture
def master_key() -> str:
    return generate_master_key()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> str:
    """A store URL on each backend: a SQLite file in tmp_path, and PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/dualid.db"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def sdk(db_url: str, master_key: str, clock: FakeClock) -> Iterator[DualId]:
    """A migrated SDK on each backend with an explicit master key and a FakeClock."""
    with DualId.open(db_url, keys=master_key, clock=clock) as opened:
        yield opened


@pytest.fixture
def memory_sdk(clock: FakeClock) -> Iterator[DualId]:
    with DualId.open("sqlite://", clock=clock) as opened:
        yield opened


# -- AWS KMS: moto's server on 127.0.0.1 (tests/kms.py) --------------------------------------
@pytest.fixture(scope="session")
def kms_url() -> Iterator[str]:
    """The URL of a moto server on 127.0.0.1 for this session, with dummy credentials and
    ``AWS_ENDPOINT_URL_KMS`` pointing at it for every client made meanwhile."""
    from . import kms

    kms.require_moto()
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=kms.free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    with pytest.MonkeyPatch.context() as mp:
        for name, value in {**kms.AWS_ENV, "AWS_ENDPOINT_URL_KMS": url}.items():
            mp.setenv(name, value)
        mp.delenv("AWS_PROFILE", raising=False)
        yield url
    server.stop()


@pytest.fixture
def kms_client(kms_url: str) -> Any:
    """A boto3 KMS client on the session's moto server."""
    from . import kms

    return kms.client(kms_url)


@pytest.fixture
def kms_key(kms_client: Any) -> str:
    """The ARN of a fresh symmetric KMS key on the moto server."""
    from . import kms

    return kms.new_key(kms_client)
