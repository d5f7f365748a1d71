"""The :class:`DualId` entry point: wires store, keys, clock and services."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from types import TracebackType

from dualid import audit
from dualid._runtime import Runtime
from dualid.audit import AuditLog
from dualid.clock import AtomicClock, Clock, SystemClock
from dualid.consent import Consent, Events, Hosts
from dualid.consent._engine import ConsentCore
from dualid.crypto import DerivedKeys, KeyProvider, LocalKeyProvider
from dualid.crypto._dek import load_or_create_secret
from dualid.crypto._service import Keys
from dualid.errors import (
    ConfigurationError,
    DecryptionFailed,
    MissingKeyError,
    UnknownAgent,
)
from dualid.identity import Identity, Profiles
from dualid.identity._agents import check_agent_id
from dualid.store import DEFAULT_URL, Store, upgrade
from dualid.store._agents import erase_agent
from dualid.store._migrate import ensure_current

__all__ = ["DATABASE_URL_ENV", "NTP_SERVERS_ENV", "DualId", "ErasureReport"]

log = logging.getLogger("dualid")
DATABASE_URL_ENV = "DUALID_DATABASE_URL"
NTP_SERVERS_ENV = "DUALID_NTP_SERVERS"


@dataclass(frozen=True)
class ErasureReport:
    """What :meth:`DualId.erase` removed (counts only) and the audit entry recording it."""

    rows_deleted: int
    audit_seq: int


def _default_clock(store: Store) -> tuple[Clock, AtomicClock | None]:
    """``DUALID_NTP_SERVERS`` set: an :class:`AtomicClock` syncing in the background (its
    state beside a SQLite file store); otherwise the system clock, honestly UNSYNCED."""
    servers = [s.strip() for s in os.environ.get(NTP_SERVERS_ENV, "").split(",") if s.strip()]
    if not servers:
        return SystemClock(), None
    state = None
    if store.sqlite_path is not None:
        state = str(store.sqlite_path.with_name(store.sqlite_path.name + ".clock.json"))
    clock = AtomicClock(servers=servers, state_path=state)
    clock.sync()
    clock.start()
    return clock, clock


def _resolve_keys(store: Store, keys: KeyProvider | str | None) -> KeyProvider:
    if isinstance(keys, str):
        return LocalKeyProvider.from_string(keys)
    if keys is not None:
        return keys
    from_env = LocalKeyProvider.from_env()
    if from_env is not None:
        return from_env
    if store.sqlite_path is not None:
        key_file = store.sqlite_path.with_name(store.sqlite_path.name + ".key")
        return LocalKeyProvider.from_file(key_file, create=True)
    if store.memory:
        return LocalKeyProvider.ephemeral()
    raise MissingKeyError(
        "no master key configured: set DUALID_MASTER_KEY or pass keys=; a PostgreSQL "
        "store never invents one"
    )


class DualId:
    """The SDK: agentIds, encrypted profiles, consent, audit and keys over one store.

    >>> from dualid import EventUserData
    >>> with DualId.open("sqlite://") as sdk:
    ...     agent_id = sdk.identity.agent_for("user-123")
    ...     sdk.profiles.put(agent_id, EventUserData(name="Ana"))
    ...     sdk.profiles.get(agent_id).name
    'Ana'
    """

    def __init__(
        self, rt: Runtime, *, controller: str = "dualid", owned_clock: AtomicClock | None = None
    ) -> None:
        self._rt = rt
        self._owned_clock = owned_clock
        core = ConsentCore(rt)
        self.identity = Identity(rt)
        self.profiles = Profiles(rt)
        self.hosts = Hosts(rt, core)
        self.events = Events(rt, core, self.identity.agent_in)
        self.consent = Consent(rt, core, controller)
        self.audit = AuditLog(rt)
        self.keys = Keys(rt)
        self._closed = False

    @classmethod
    def open(
        cls,
        url: str | None = None,
        *,
        keys: KeyProvider | str | None = None,
        clock: Clock | None = None,
        migrate: bool = True,
        controller: str = "dualid",
        connect_timeout: float | None = 5.0,
        statement_timeout: float | None = 30.0,
        lock_timeout: float | None = 30.0,
    ) -> DualId:
        """Open (and by default migrate) a store.

        ``url``: ``None`` uses ``DUALID_DATABASE_URL`` or ``./dualid.db``; ``"sqlite://"`` is
        in memory; ``"postgresql+psycopg://..."`` for production. ``keys``: a
        :class:`~dualid.crypto.KeyProvider` or a ``DUALID_MASTER_KEY``-style string; when
        omitted, ``DUALID_MASTER_KEY``, then (SQLite file only) a 0600 key file beside the
        database, then (in memory only) a random key. ``clock``: any
        :class:`~dualid.clock.Clock`; by default an :class:`~dualid.clock.AtomicClock` on
        the servers in ``DUALID_NTP_SERVERS`` (comma-separated ``host[:port]``, synced in
        the background and stopped by :meth:`close`), else :class:`~dualid.clock.SystemClock`.
        ``controller``: the data controller named in consent receipts. ``migrate=False``
        leaves the schema alone (when a deploy step runs ``dualid db upgrade``) and raises
        :class:`~dualid.errors.SchemaOutOfDate` unless it is at this version's head.
        ``connect_timeout``, ``statement_timeout``, ``lock_timeout``: seconds, PostgreSQL
        only; ``None`` keeps the server's default, and a value set in the URL
        (``?connect_timeout=10``, ``?options=-c statement_timeout=60000``) wins. A server
        that cannot be reached in ``connect_timeout`` raises
        :class:`~dualid.errors.StoreUnavailable` (see ``docs/operations.md``).
        """
        store = Store(
            url or os.environ.get(DATABASE_URL_ENV) or DEFAULT_URL,
            connect_timeout=connect_timeout,
            statement_timeout=statement_timeout,
            lock_timeout=lock_timeout,
        )
        owned: AtomicClock | None = None
        try:
            provider = _resolve_keys(store, keys)
            if migrate:
                upgrade(store)
            else:
                ensure_current(store)
            if clock is None:
                clock, owned = _default_clock(store)
            with store.write() as conn:
                try:
                    root = load_or_create_secret(conn, provider, "root", clock.now().time)
                except DecryptionFailed:
                    raise ConfigurationError(
                        "the configured master key does not match this database"
                    ) from None
        except BaseException:
            if owned is not None:
                owned.close()
            store.dispose()
            raise
        return cls(
            Runtime(store, clock, provider, DerivedKeys.from_root(root)),
            controller=controller,
            owned_clock=owned,
        )

    @property
    def clock(self) -> Clock:
        return self._rt.clock

    @property
    def store(self) -> Store:
        return self._rt.store

    def erase(self, agent_id: str) -> ErasureReport:
        """Erase a person (crypto-shredding, P6): destroy the agent's data key and delete
        its rows in one transaction. Any copy of its ciphertexts left elsewhere (exports,
        replicas, backups without the key) is unreadable from then on. The audit trail
        keeps a PII-free record and stays verifiable."""
        check_agent_id(agent_id)
        with self._rt.write() as tx:
            # The person's lock first (docs/concurrency.md): a write to this agent that
            # is in flight commits before the rows are deleted, and one that comes later
            # finds no agent and raises UnknownAgent.
            deleted = erase_agent(tx.conn, agent_id)
            if deleted is None:
                raise UnknownAgent("no such agent (unknown or erased)")
            seq = audit.append(
                tx.conn, tx.now, "agent.erased", subject=agent_id, details={"rows": deleted}
            )
        return ErasureReport(deleted, seq)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            if self._owned_clock is not None:
                self._owned_clock.close()
            self._rt.store.dispose()

    def __enter__(self) -> DualId:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"DualId(store={self._rt.store!r})"
