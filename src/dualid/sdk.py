"""The :class:`DualId` entry point: wires store, keys, clock and services."""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from dualid import audit
from dualid._checks import check_seconds, check_text
from dualid._runtime import Runtime
from dualid._vault import key_usage, load_or_create_secret
from dualid.audit import AuditLog, CheckpointSchedule, CheckpointWitness
from dualid.clock import AtomicClock, Clock, SystemClock, parse_servers
from dualid.consent import Consent, Events, Hosts
from dualid.consent._engine import ConsentCore
from dualid.consent._replay import ConsentReplay
from dualid.crypto import ENV_MASTER_KEY, DerivedKeys, KeyProvider, LocalKeyProvider
from dualid.crypto._ring import (
    DEFAULT_DEK_CACHE_MAX_AGE,
    DEFAULT_DEK_CACHE_SIZE,
    DekCache,
    KeyRing,
)
from dualid.errors import (
    ConfigurationError,
    DecryptionFailed,
    DualIdError,
    InvalidInput,
    MissingKeyError,
    UnknownAgent,
    UnknownHost,
)
from dualid.identity import Identity, Profiles
from dualid.identity._agents import check_agent_id, reindex_agents
from dualid.integration import KEYS_ENV, open_key_provider, uri_scheme
from dualid.keys import Keys
from dualid.models import DataField
from dualid.store import DEFAULT_URL, Store, current, upgrade
from dualid.store._agents import erase_agent, lock_agent
from dualid.store._migrate import before as before_migration
from dualid.store._migrate import downgrade, ensure_current
from dualid.store._retry import retrying
from dualid.store._sql import Conn
from dualid.webhooks import BackgroundDelivery, Webhooks

__all__ = ["DATABASE_URL_ENV", "EXPORT_FORMAT", "NTP_SERVERS_ENV", "DualId", "ErasureReport"]

log = logging.getLogger("dualid")
DATABASE_URL_ENV = "DUALID_DATABASE_URL"
NTP_SERVERS_ENV = "DUALID_NTP_SERVERS"
EXPORT_FORMAT = "dualid-export/1"
"""The ``format`` of the documents :meth:`DualId.export` returns. Keys may be added within
a version; the number changes when one is removed or changes meaning."""

_AGENT_ID = re.compile(r"agt_[a-z2-7]{8,}")
_PROFILE_FIELDS = frozenset(f.value for f in DataField)
# The revisions before 0007_grant_mac (a test checks them against the migrations): the
# open that upgrades a store from one of them seals its grants.
_BEFORE_GRANT_MACS = frozenset(
    {
        "0001_core",
        "0002_consent",
        "0003_grant_covering_index",
        "0004_sqlite_clustered",
        "0005_events",
        "0006_audit_partitions",
    }
)
SHARED_BLOB = "0011_shared_blob"
# How long close() waits for a purge in flight (PostgreSQL's statement and lock timeouts
# bound it anyway).
_PURGE_JOIN_SECONDS = 60.0


@dataclass(frozen=True)
class ErasureReport:
    """What :meth:`DualId.erase` removed (counts only) and the audit entry recording it."""

    rows_deleted: int
    audit_seq: int


def _default_clock(store: Store) -> tuple[Clock, AtomicClock | None]:
    """``DUALID_NTP_SERVERS`` set: an :class:`AtomicClock` syncing in the background (its
    state beside a SQLite file store); otherwise the system clock, honestly UNSYNCED."""
    spec = os.environ.get(NTP_SERVERS_ENV, "")
    if not spec.strip():
        return SystemClock(), None
    try:
        servers = parse_servers(spec)  # commas and/or whitespace, as `dualid clock status`
    except ValueError as exc:
        raise ConfigurationError(f"{NTP_SERVERS_ENV}: {exc}") from None
    state = None
    if store.sqlite_path is not None:
        state = str(store.sqlite_path.with_name(store.sqlite_path.name + ".clock.json"))
    clock = AtomicClock(servers=servers, state_path=state)
    clock.sync()
    clock.start()
    return clock, clock


# The most data keys a cache may hold (each is about 1 KiB of memory).
_MAX_DEK_CACHE_SIZE = 10_000_000


def _check_open_arguments(url: object, keys: object, clock: object, controller: object) -> None:
    """DualId.open's other arguments have the right kind, before anything is opened."""
    if url is not None and not isinstance(url, str):
        raise ConfigurationError("the database URL must be a string")
    if keys is not None and not isinstance(keys, str | KeyProvider):
        raise ConfigurationError(
            "keys must be a KeyProvider, a key URI (local:..., aws-kms:...) or a "
            "DUALID_MASTER_KEY string"
        )
    if clock is not None and not isinstance(clock, Clock):
        raise InvalidInput("clock must have a now() method (dualid.clock.Clock)", field="clock")
    if not isinstance(controller, str) or not controller.strip() or len(controller) > 200:
        raise InvalidInput("controller is a name of 1-200 characters", field="controller")
    check_text(controller, "controller")


def _check_dek_cache(size: object, max_age: object) -> tuple[int, timedelta]:
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= _MAX_DEK_CACHE_SIZE:
        raise InvalidInput(
            f"dek_cache_size must be an integer from 0 (off) to {_MAX_DEK_CACHE_SIZE:,}",
            field="dek_cache_size",
        )
    return size, timedelta(seconds=check_seconds(max_age, "dek_cache_max_age"))


def _keys_from_text(text: str) -> KeyProvider:
    """A key URI (``local:``, ``aws-kms:``, a plugin's scheme), or a ``DUALID_MASTER_KEY``
    value. A value that parses as master keys is never handed to a plugin, even when its
    first key id is a plugin's name."""
    scheme = uri_scheme(text.strip())
    if scheme is None:
        return LocalKeyProvider.from_string(text)
    if scheme not in ("local", "aws-kms"):
        try:
            return LocalKeyProvider.from_string(text)
        except ConfigurationError:
            pass
    return open_key_provider(text)


def _resolve_keys(store: Store, keys: KeyProvider | str | None) -> KeyProvider | Path:
    """The provider to open ``store`` with, or the path of a SQLite store's key file that
    does not exist yet (:func:`_new_key_file` decides, once it can read the store)."""
    if isinstance(keys, str):
        return _keys_from_text(keys)
    if keys is not None:
        return keys
    uri = os.environ.get(KEYS_ENV, "").strip()
    if uri:
        if os.environ.get(ENV_MASTER_KEY, "").strip() and uri != "local:env":
            raise ConfigurationError(
                f"both {KEYS_ENV} and {ENV_MASTER_KEY} are set: unset one (or set "
                f"{KEYS_ENV}=local:env to use {ENV_MASTER_KEY})"
            )
        return open_key_provider(uri)
    from_env = LocalKeyProvider.from_env()
    if from_env is not None:
        return from_env
    if store.sqlite_path is not None:
        key_file = store.sqlite_path.with_name(store.sqlite_path.name + ".key")
        return LocalKeyProvider.from_file(key_file, create=False) if key_file.exists() else key_file
    if store.memory:
        return LocalKeyProvider.ephemeral()
    raise MissingKeyError(
        "no master key configured: set DUALID_MASTER_KEY or pass keys=; a PostgreSQL "
        "store never invents one"
    )


def _new_key_file(conn: Conn, key_file: Path) -> LocalKeyProvider:
    """The key file of a SQLite store opened without one, created (0600) only while the
    store holds nothing wrapped by a master key. Beside a database that has data, a new key
    could read none of it: that is an error, and no useless key file is left behind."""
    if key_usage(conn) and not key_file.exists():
        raise MissingKeyError(
            f"the database {key_file.name.removesuffix('.key')} holds encrypted data but its "
            f"key file {key_file.name} is missing: restore the key file, or set "
            "DUALID_MASTER_KEY to the key the database was created with"
        )
    return LocalKeyProvider.from_file(key_file, create=True)


class _ExpiryPurge:
    """Runs ``purge`` (``consent.purge_expired``) every ``interval`` seconds on a daemon
    thread until :meth:`stop`. A failed run is logged and retried at the next tick; the log
    line names the exception class and code only, since a foreign exception's message can
    carry SQL parameters."""

    def __init__(self, purge: Callable[[], int], interval: float) -> None:
        self._purge = purge
        self._interval = interval
        # Event.wait is the timer: no wall-clock read, and stop() wakes it at once.
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dualid-purge-expired", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopping.wait(self._interval):
            try:
                deleted = self._purge()
            except DualIdError as exc:
                log.warning(
                    "scheduled purge of expired grants failed: %s [%s]; retrying in %g s",
                    type(exc).__name__,
                    exc.code,
                    self._interval,
                )
            except Exception as exc:  # the schedule must survive anything one run raises
                log.error(
                    "scheduled purge of expired grants failed: %s; retrying in %g s",
                    type(exc).__name__,
                    self._interval,
                )
            else:
                if deleted:
                    log.info("scheduled purge deleted %d expired shared values", deleted)

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not threading.current_thread():
            self._thread.join(_PURGE_JOIN_SECONDS)
            if self._thread.is_alive():
                log.warning("the scheduled purge did not stop in %g s", _PURGE_JOIN_SECONDS)


def _before_grant_macs(revision: str | None) -> bool:
    """Was a store at ``revision`` (None: a new one) from before grants had MACs?"""
    return revision in _BEFORE_GRANT_MACS


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _field_names(fields: frozenset[DataField]) -> list[str]:
    """camelCase names, in the declaration order of :class:`DataField`."""
    return [f.alias for f in DataField if f in fields]


def _without_agent_ids(value: Any) -> Any:
    """``value`` with every string that holds an agentId dropped (P1), whatever was recorded."""
    if isinstance(value, dict):
        return {k: _without_agent_ids(v) for k, v in value.items() if not _holds_agent_id(v)}
    if isinstance(value, list | tuple):
        return [_without_agent_ids(v) for v in value if not _holds_agent_id(v)]
    return value


def _holds_agent_id(value: Any) -> bool:
    return isinstance(value, str) and _AGENT_ID.search(value) is not None


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
        self,
        rt: Runtime,
        *,
        controller: str = "dualid",
        owned_clock: AtomicClock | None = None,
        webhooks_allow_private: bool = False,
    ) -> None:
        self._rt = rt
        self._owned_clock = owned_clock
        self.webhooks = Webhooks(rt, allow_private=webhooks_allow_private)
        core = ConsentCore(rt, self.webhooks.outbox)
        self.identity = Identity(rt)
        # The *_user methods create a first-time person's agent inside their own write,
        # so a refused call provisions nothing.
        agent_in = self.identity.agent_in
        self.profiles = Profiles(rt, agent_in)
        self.hosts = Hosts(rt, core, self.webhooks.endpoints)
        self.events = Events(rt, core, agent_in)
        self.audit = AuditLog(rt, state_check=ConsentReplay)
        self.consent = Consent(rt, core, controller, agent_in, self.audit)
        self.keys = Keys(rt, reindex=reindex_agents)
        self._closed = False
        self._purger: _ExpiryPurge | None = None
        self._checkpoints: CheckpointSchedule | None = None
        self._deliverer: BackgroundDelivery | None = None

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
        purge_expired_every: float | None = None,
        audit_partitions: int | None = None,
        witness: CheckpointWitness | None = None,
        checkpoint_every: int | None = None,
        checkpoint_interval: float = 60.0,
        dek_cache_size: int = DEFAULT_DEK_CACHE_SIZE,
        dek_cache_max_age: float = DEFAULT_DEK_CACHE_MAX_AGE,
        webhooks_allow_private: bool = False,
        deliver_webhooks_every: float | None = None,
    ) -> DualId:
        """Open (and by default migrate) a store.

        ``url``: ``None`` uses ``DUALID_DATABASE_URL`` or ``./dualid.db``; ``"sqlite://"`` is
        in memory; ``"postgresql+psycopg://..."`` for production. ``keys``: a
        :class:`~dualid.crypto.KeyProvider`, a key URI (``"aws-kms:<key id or ARN>"``,
        ``"local:<keys>"``, ``"local:file:<path>"``, a plugin's scheme: see
        :mod:`dualid.integration`) or a ``DUALID_MASTER_KEY``-style string; when omitted,
        the URI in ``DUALID_KEYS``, then ``DUALID_MASTER_KEY`` (both set is a
        ``ConfigurationError`` unless ``DUALID_KEYS=local:env``), then (SQLite file only)
        a 0600 key file beside the database, then (in memory only) a random key.
        ``dek_cache_size`` (default 10,000; 0 turns the cache off) and
        ``dek_cache_max_age`` (seconds, default 300, by ``clock``): unwrapped data keys
        kept in this process's memory, so repeated reads of the same people need no key
        service call (``docs/keys.md`` says why a cached key cannot outlive an erasure or
        a revocation). ``clock``: any
        :class:`~dualid.clock.Clock`; by default an :class:`~dualid.clock.AtomicClock` on
        the servers in ``DUALID_NTP_SERVERS`` (``host[:port]`` separated by commas or
        whitespace; a malformed entry is a ``ConfigurationError`` naming it; synced in
        the background and stopped by :meth:`close`), else :class:`~dualid.clock.SystemClock`.
        ``controller``: the data controller named in consent receipts. ``migrate=False``
        leaves the schema alone (when a deploy step runs ``dualid db upgrade``) and raises
        :class:`~dualid.errors.SchemaOutOfDate` unless it is at this version's head.
        ``connect_timeout``, ``statement_timeout``, ``lock_timeout``: seconds, PostgreSQL
        only; ``None`` keeps the server's default, and a value set in the URL
        (``?connect_timeout=10``, ``?options=-c statement_timeout=60000``) wins. A server
        that cannot be reached in ``connect_timeout`` raises
        :class:`~dualid.errors.StoreUnavailable` (see ``docs/operations.md``).
        ``purge_expired_every``: seconds; runs :meth:`Consent.purge_expired
        <dualid.consent.Consent.purge_expired>` on a background (daemon) thread at that
        interval until :meth:`close`, logging failures; ``None`` (the default) leaves it
        to ``dualid consent purge-expired`` from cron (``docs/operations.md`` says which
        to use when).

        ``audit_partitions``: how many partitions (independent hash chains, so writers of
        different people never wait on one lock) the audit log gets on PostgreSQL when
        the store is created; fixed from then on. Default 16; SQLite always has one.
        ``witness``: a :class:`~dualid.audit.CheckpointWitness` (``FileWitness(path)``,
        ``HttpWitness(url)``) that receives each signed checkpoint as it is made: after
        every ``checkpoint_every`` writes (default 1000 when a witness is given) and at
        least every ``checkpoint_interval`` seconds while entries are written, on a
        background thread, plus one on :meth:`close`. ``checkpoint_every`` without a
        witness keeps the checkpoints in the database only.

        ``deliver_webhooks_every``: seconds; delivers the webhook outbox
        (:meth:`Webhooks.deliver_pending <dualid.webhooks.Webhooks.deliver_pending>`) on a
        background (daemon) thread at most that far apart, at once after a write of this
        process that wrote a notice, until :meth:`close`; ``None`` (the default) leaves
        it to ``dualid webhooks run`` (``docs/webhooks.md``). ``webhooks_allow_private``:
        allow webhook URLs on ``http`` and on loopback or private addresses (tests, local
        development); refused by default (SSRF).

        .. versionadded:: 0.2.0 ``purge_expired_every``, ``audit_partitions``,
           ``witness``, ``checkpoint_every``, ``checkpoint_interval``, ``dek_cache_size``,
           ``dek_cache_max_age``, key URIs and ``DUALID_KEYS``, ``webhooks_allow_private``,
           ``deliver_webhooks_every``
        """
        if checkpoint_every is not None and (
            isinstance(checkpoint_every, bool)
            or not isinstance(checkpoint_every, int)
            or checkpoint_every < 1
        ):
            raise InvalidInput("checkpoint_every must be a positive number of writes")
        interval = check_seconds(checkpoint_interval, "checkpoint_interval")
        if witness is not None and not isinstance(witness, CheckpointWitness):
            raise InvalidInput("witness must have witness(checkpoint) and latest() methods")
        if purge_expired_every is not None:
            check_seconds(purge_expired_every, "purge_expired_every")
        if deliver_webhooks_every is not None:
            check_seconds(deliver_webhooks_every, "deliver_webhooks_every")
        if not isinstance(webhooks_allow_private, bool):
            raise InvalidInput("webhooks_allow_private must be True or False")
        _check_open_arguments(url, keys, clock, controller)
        cache_size, cache_age = _check_dek_cache(dek_cache_size, dek_cache_max_age)
        store = Store(
            url or os.environ.get(DATABASE_URL_ENV) or DEFAULT_URL,
            connect_timeout=connect_timeout,
            statement_timeout=statement_timeout,
            lock_timeout=lock_timeout,
        )
        owned: AtomicClock | None = None
        try:
            provider = _resolve_keys(store, keys)
            before = None
            if migrate:
                before = current(store)
                upgrade(store, audit_partitions=audit_partitions)
            else:
                ensure_current(store)
                store.load_audit_partitions()
            if clock is None:
                clock, owned = _default_clock(store)
            reader = clock
            cache = DekCache(cache_size, cache_age, lambda: reader.now().time)
            with store.write() as conn:
                if isinstance(provider, Path):
                    provider = _new_key_file(conn, provider)
                ring = KeyRing(provider, cache)
                try:
                    root = load_or_create_secret(conn, ring, "root", clock.now().time)
                except DecryptionFailed:
                    raise ConfigurationError(
                        "the configured master key does not match this database"
                    ) from None
        except BaseException:
            if owned is not None:
                owned.close()
            store.dispose()
            raise
        sdk = cls(
            Runtime(store, clock, ring, DerivedKeys.from_root(root)),
            controller=controller,
            owned_clock=owned,
            webhooks_allow_private=webhooks_allow_private,
        )
        if _before_grant_macs(before) or before_migration(before, SHARED_BLOB):
            try:
                if _before_grant_macs(before):
                    # This open gave the grants their MAC column: seal the rows that were
                    # there, each once the log's replay shows it as logged.
                    sdk.consent.seal_grants()
                # This open made shared copies one blob each: re-seal those from before
                # (docs/operations.md).
                sdk.consent.seal_copies()
            except BaseException:
                sdk.close()
                raise
        if purge_expired_every is not None:
            sdk._purger = _ExpiryPurge(sdk.consent.purge_expired, float(purge_expired_every))
        sdk.audit.witness = witness
        if witness is not None or checkpoint_every is not None:
            schedule = CheckpointSchedule(
                sdk.audit, every=checkpoint_every or 1000, interval=interval
            )
            sdk._checkpoints = schedule
            sdk._rt.after_write.append(schedule.note_write)
        if deliver_webhooks_every is not None:
            deliverer = BackgroundDelivery(
                sdk.webhooks, sdk._rt.clock, float(deliver_webhooks_every)
            )
            sdk._deliverer = deliverer
            sdk._rt.after_write.append(deliverer.note_write)
        return sdk

    @property
    def clock(self) -> Clock:
        return self._rt.clock

    def derive_secret(self, purpose: str) -> bytes:
        """A stable 32-byte secret for one ``purpose`` of the application (signing CSRF
        tokens or cookies), derived from this store's root secret: every instance on the
        same store and master key gets the same bytes, each purpose different ones, and
        none is a key the SDK uses itself. ``dualid.ui`` signs its CSRF tokens with
        ``derive_secret("dualid.ui/csrf")``.

        .. versionadded:: 0.2.0
        """
        if not isinstance(purpose, str) or not purpose.strip() or len(purpose) > 200:
            raise InvalidInput("a purpose is a non-empty text of at most 200 characters")
        return self._rt.derived.application_secret(purpose)

    @property
    def store(self) -> Store:
        return self._rt.store

    def downgrade(self, revision: str) -> None:
        """Downgrade the store's schema to ``revision`` with this SDK's keys (an operator's
        step before running an older version; take a backup first). Below migration 0011
        the shared copies are re-sealed one row per field, which needs the keys; every
        other step is :func:`dualid.store.downgrade`'s. The SDK cannot be used on the
        store afterwards: close it.

        .. versionadded:: 0.2.0
        """
        if not isinstance(revision, str) or not revision.strip():
            raise InvalidInput("revision must be a migration revision id or 'base'")
        rt = self._rt

        def split(connection: Any) -> int:
            from dualid.consent._copies import split_all
            from dualid.store._shared import conn_of

            return split_all(conn_of(connection), rt.provider, rt.clock.now().time)

        downgrade(rt.store, revision, split_shared=split)

    @retrying
    def erase(self, agent_id: str) -> ErasureReport:
        """Erase a person (crypto-shredding, P6): destroy the agent's data key and delete
        its rows in one transaction. Any copy of its ciphertexts left elsewhere (exports,
        replicas, backups without the key) is unreadable from then on. The audit trail
        keeps a PII-free record and stays verifiable."""
        check_agent_id(agent_id)
        try:
            with self._rt.write() as tx:
                # The person's lock first (docs/concurrency.md): a write to this agent that
                # is in flight commits before the rows are deleted, and one that comes later
                # finds no agent and raises UnknownAgent.
                if not lock_agent(tx.conn, agent_id):
                    raise UnknownAgent("no such agent (unknown or erased)")
                # Every host the person dealt with learns to delete what it holds for them
                # (the outbox, in this transaction), while the rows still say which hosts.
                told = self.webhooks.outbox.person_erased(tx, agent_id)
                deleted = erase_agent(tx.conn, agent_id)
                if deleted is None:
                    raise UnknownAgent("no such agent (unknown or erased)")
                details: dict[str, Any] = {"rows": deleted}
                if told:
                    details["hosts_notified"] = told
                seq = audit.append(
                    tx.conn, tx.now, "agent.erased", subject=agent_id, details=details
                )
        finally:
            # The key row is gone with every row it opened, so a cached copy could open
            # nothing; dropping it keeps the key material itself from lingering.
            self._rt.provider.forget(agent_id)
        return ErasureReport(deleted, seq)

    def export(self, agent_id: str) -> dict[str, Any]:
        """Everything dualid holds about one person, as one JSON-ready document: the right
        of access and to data portability (GDPR Art. 15 and 20).

        camelCase keys, like the HTTP API: ``format`` (:data:`EXPORT_FORMAT`),
        ``exportedAt`` and ``clock`` (``status``, ``uncertaintyMs``) from the SDK's clock,
        ``profile`` (the stored values, or None), ``hosts`` the person dealt with,
        ``registrations`` (with what each shares now), ``grants`` (active, revoked and
        expired), ``defaults``, ``history`` (the person's audit entries, oldest first,
        each with the notices its change sent to the host) and
        ``receipts`` (a signed consent receipt per grant, exactly as signed: snake_case).

        The document holds no agentId, not even the person's own: it is made to be handed
        on (to the person, or by them to another service), and an agentId is the
        platform's internal name that hosts must never learn (P1, P5). Nothing of other
        people is in it. Issuing the receipts writes their ``consent.receipt_issued``
        entries, which the history then shows; the export itself is recorded last, as
        ``agent.exported`` (counts only), and that entry's time is ``exportedAt``.
        An unknown or erased agent raises :class:`~dualid.errors.UnknownAgent`.

        >>> with DualId.open("sqlite://") as sdk:
        ...     agent_id = sdk.identity.agent_for("user-123")
        ...     doc = sdk.export(agent_id)
        ...     doc["format"], doc["profile"], [e["action"] for e in doc["history"]]
        ('dualid-export/1', None, ['agent.created'])

        .. versionadded:: 0.2.0
        """
        check_agent_id(agent_id)
        profile = self.profiles.get(agent_id)
        registrations = self.events.registrations(agent_id)
        grants = self.consent.grants(agent_id, include_inactive=True)
        defaults = sorted(
            self.consent.defaults(agent_id).items(),
            key=lambda kv: (kv[0][0].value, kv[0][1] or ""),
        )
        receipts = [self.consent.receipt(g.id, agent_id=agent_id) for g in grants]
        history = self.consent.history(agent_id)
        host_ids = (
            {r.host_id for r in registrations}
            | {g.host_id for g in grants}
            | {host_id for (_, host_id), _ in defaults if host_id}
            | {e.host_id for e in history if e.host_id}
        )
        hosts = []
        for host_id in sorted(host_ids):
            try:
                hosts.append(self.hosts.get(host_id))
            except UnknownHost:
                continue
        with self._rt.write() as tx:
            # The person's lock (docs/concurrency.md): an erasure that committed meanwhile
            # makes this UnknownAgent, so no export outlives an erasure unrecorded.
            if not lock_agent(tx.conn, agent_id):
                raise UnknownAgent("no such agent (unknown or erased)")
            audit.append(
                tx.conn,
                tx.now,
                "agent.exported",
                subject=agent_id,
                details={
                    "format": EXPORT_FORMAT,
                    "registrations": len(registrations),
                    "grants": len(grants),
                    "history": len(history),
                },
            )
            reading = tx.now
        return {
            "format": EXPORT_FORMAT,
            "exportedAt": reading.time.isoformat(),
            "clock": {
                "status": reading.status.value,
                "uncertaintyMs": reading.uncertainty / timedelta(milliseconds=1),
            },
            "profile": None
            if profile is None
            else profile.model_dump(
                mode="json", by_alias=True, exclude_none=True, include=set(_PROFILE_FIELDS)
            ),
            "hosts": [{"hostId": h.host_id, "name": h.name, "kind": h.kind.value} for h in hosts],
            "registrations": [
                {
                    "id": r.id,
                    "hostId": r.host_id,
                    "eventType": r.event_type.value,
                    "eventId": r.event_id,
                    "createdAt": r.created_at.isoformat(),
                    "shared": _field_names(r.shared),
                    "grantId": r.grant_id,
                }
                for r in registrations
            ],
            "grants": [
                {
                    "id": g.id,
                    "hostId": g.host_id,
                    "fields": _field_names(g.fields),
                    "eventId": g.event_id,
                    "eventType": g.event_type.value if g.event_type is not None else None,
                    "purpose": g.purpose,
                    "createdAt": g.created_at.isoformat(),
                    "expiresAt": _iso(g.expires_at),
                    "revokedAt": _iso(g.revoked_at),
                    "state": g.state.value,
                }
                for g in grants
            ],
            "defaults": [
                {"eventType": etype.value, "hostId": host_id, "fields": _field_names(fields)}
                for (etype, host_id), fields in defaults
            ],
            "history": [
                {
                    "action": e.action,
                    "at": e.at.isoformat(),
                    "hostId": e.host_id,
                    "actor": e.actor,
                    "details": _without_agent_ids(dict(e.details)),
                    "entryHash": e.entry_hash,
                    "notices": [
                        {
                            "id": n.id,
                            "hostId": n.host_id,
                            "type": n.type,
                            "status": n.status.value,
                            "createdAt": n.created_at.isoformat(),
                            "deliveredAt": _iso(n.delivered_at),
                        }
                        for n in e.notices
                    ],
                }
                for e in history
            ],
            "receipts": receipts,
        }

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            if self._purger is not None:
                self._purger.stop()
            if self._deliverer is not None:
                self._deliverer.stop()
            if self._checkpoints is not None:
                self._checkpoints.stop()
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
