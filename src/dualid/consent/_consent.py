"""Grants, revocations, defaults, the person's view, explanations and receipts."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from dualid import audit
from dualid._checks import check_count
from dualid._runtime import Runtime, Tx
from dualid._vault import load_dek
from dualid.audit import AuditRecord
from dualid.crypto import SigningKey
from dualid.crypto._generations import RECEIPT_SIGNING, receipt_key_id
from dualid.errors import (
    FieldNotRequested,
    GrantNotActive,
    InvalidCheckpoint,
    InvalidInput,
    StoreUnavailable,
    UnknownGrant,
)
from dualid.identity._agents import check_agent_id
from dualid.models import DataField, EventType
from dualid.store import _grants as store
from dualid.store import _sealed
from dualid.store import _sql as db
from dualid.store._agents import lock_agent
from dualid.store._audit import begin_snapshot
from dualid.store._retry import retrying
from dualid.store._sql import Conn
from dualid.webhooks import NoticeType
from dualid.webhooks._endpoints import Endpoints

from . import _copies
from . import _rules as rules
from ._engine import (
    ConsentCore,
    GrantRow,
    RegRow,
    check_event_id,
    check_host_id,
    check_purpose,
    decode_fields,
    encode_fields,
    grant_covers,
    grant_mac,
    grant_state,
    grant_view,
    parse_event_type,
    parse_fields,
)
from ._events import _check_expiry
from ._receipts import build_receipt, log_section, receipt_signer
from ._receipts import verify_receipt as _verify_signed
from ._replay import unsealed_grants
from ._types import Explanation, Grant, GrantState, HistoryEntry, SealReport, SharedItem

__all__ = ["Consent"]

log = logging.getLogger("dualid.consent")
_SEAL_BATCH = 1000  # grants sealed per transaction
_REFUSED_LOGGED = 100  # refused grant ids named in the audit entry


class Consent:
    """What a person shares with whom: grants, revocations, defaults, receipts.

    >>> g = sdk.consent.grant(agent_id, "bistro-7", fields={DataField.EMAIL},  # doctest: +SKIP
    ...                       event_id="res-991", purpose="confirmation")
    >>> sdk.consent.revoke(g.id)                                              # doctest: +SKIP
    """

    def __init__(
        self,
        rt: Runtime,
        core: ConsentCore,
        controller: str,
        agent_in: Callable[[Tx, str], str],
        log: audit.AuditLog | None = None,
    ) -> None:
        self._rt = rt
        self._core = core
        self._controller = controller
        self._agent_in = agent_in
        # The audit log's checkpoints and proofs, for the receipts' ``log`` sections.
        self._log = log

    # -- grants ----------------------------------------------------------------------------
    @retrying
    def grant(
        self,
        agent_id: str,
        host_id: str,
        *,
        fields: Iterable[DataField | str],
        event_id: str | None = None,
        event_type: EventType | str | None = None,
        purpose: str,
        expires_at: datetime | None = None,
    ) -> Grant:
        """Consent to share ``fields`` with ``host_id``: for one event (``event_id``), for
        every event of one type (``event_type``), or for every event of the host (neither).

        The values are copied from the profile now, into every registration the grant
        covers (and, for host-wide grants, into future registrations as they are made).
        Only fields the host declared for the event type can be granted
        (:class:`~dualid.errors.FieldNotRequested`).
        """
        check_agent_id(agent_id)
        terms = _grant_terms(host_id, fields, event_id, event_type, purpose)
        with self._rt.write() as tx:
            return self._grant_in(tx, agent_id, *terms, expires_at)

    @retrying
    def grant_user(
        self,
        user_id: str,
        host_id: str,
        *,
        fields: Iterable[DataField | str],
        event_id: str | None = None,
        event_type: EventType | str | None = None,
        purpose: str,
        expires_at: datetime | None = None,
    ) -> Grant:
        """:meth:`grant` for a platform userId: the agentId is looked up, or created in
        the grant's own transaction, so a refused grant provisions nothing (the HTTP API's
        ``POST /me/grants`` uses it).

        .. versionadded:: 0.2.0
        """
        terms = _grant_terms(host_id, fields, event_id, event_type, purpose)
        with self._rt.write() as tx:
            return self._grant_in(tx, self._agent_in(tx, user_id), *terms, expires_at)

    def _grant_in(
        self,
        tx: Tx,
        agent_id: str,
        host_id: str,
        granted: frozenset[DataField],
        event_id: str | None,
        etype: EventType | None,
        why: str,
        expires_at: datetime | None,
    ) -> Grant:
        conn = tx.conn
        self._core.lock_agent(conn, agent_id)
        self._core.host(conn, host_id)
        if expires_at is not None:
            _check_expiry(expires_at, tx)
        requirements = self._core.requirements(conn, host_id)
        if event_id is not None:
            regs = [self._core.one_registration(conn, agent_id, host_id, event_id)]
            if etype is not None and etype != regs[0].event_type:
                raise InvalidInput("event_type does not match the registration")
            etype = regs[0].event_type
            declared = requirements[etype].declared if etype in requirements else frozenset()
        else:
            # The registrations this host-wide grant applies to (the P2 rule).
            kind = etype.value if etype is not None else None
            regs = [
                r
                for r in self._core.registrations_of(conn, agent_id, host_id)
                if rules.applies(None, kind, r.event_id, r.event_type.value)
            ]
            if etype is not None:
                declared = requirements[etype].declared if etype in requirements else frozenset()
            else:
                declared = frozenset(f for r in requirements.values() for f in r.declared)
        undeclared = granted - declared
        if undeclared:
            raise FieldNotRequested(
                "the host did not ask for these fields", fields=[f.value for f in undeclared]
            )
        grant_id = self._core.insert_grant(
            tx,
            agent_id,
            host_id,
            fields=granted,
            event_id=event_id,
            event_type=etype,
            purpose=why,
            expires_at=expires_at,
        )
        self._core.fill(tx, agent_id, regs, granted, requirements=requirements)
        notice = self._core.notices.granted(
            tx,
            agent_id,
            host_id,
            grant_id,
            fields=granted,
            event_id=event_id,
            event_type=etype,
            expires_at=expires_at,
        )
        details: dict[str, Any] = {
            "grant_id": grant_id,
            "event_id": event_id,
            "event_type": etype.value if etype is not None else None,
            "fields": sorted(f.value for f in granted),
            "expires_at": expires_at.isoformat() if expires_at else None,
        }
        if notice is not None:
            details["notice"] = notice
        audit.append(
            conn, tx.now, "consent.granted", subject=agent_id, host_id=host_id, details=details
        )
        return Grant(
            id=grant_id,
            host_id=host_id,
            fields=granted,
            event_id=event_id,
            event_type=etype,
            purpose=why,
            created_at=tx.now.time,
            expires_at=expires_at,
            revoked_at=None,
            state=GrantState.ACTIVE,
        )

    def get(self, grant_id: str) -> Grant:
        """A grant by id, with its current state."""
        with self._rt.read() as tx:
            return grant_view(self._grant_row(tx.conn, grant_id), tx.now.latest)

    def grants(self, agent_id: str, *, include_inactive: bool = False) -> list[Grant]:
        check_agent_id(agent_id)
        with self._rt.read() as tx:
            views = [grant_view(r, tx.now.latest) for r in store.grants_of(tx.conn, agent_id)]
        return [g for g in views if include_inactive or g.state is GrantState.ACTIVE]

    def _grant_row(self, conn: Conn, grant_id: str) -> GrantRow:
        if not isinstance(grant_id, str) or not grant_id.startswith("gr_") or len(grant_id) > 40:
            raise UnknownGrant("no such grant")
        row = store.grant_by_id(conn, grant_id)
        if row is None:
            raise UnknownGrant("no such grant")
        return row

    # -- revocation ------------------------------------------------------------------------
    @retrying
    def revoke(self, grant_id: str, *, agent_id: str | None = None) -> Grant:
        """Withdraw one grant, now: the host stops receiving its fields and the shared
        copies no other active grant covers are deleted. With ``agent_id``, the grant must
        belong to that person (else :class:`~dualid.errors.UnknownGrant`).

        Only an active grant can be revoked: one already revoked, or expired (by the rule
        of the host view: its ``expires_at`` is not after the clock's ``latest``), raises
        :class:`~dualid.errors.GrantNotActive` and nothing is written. An expired grant has
        ended already; the copies only it covered are invisible to the host and
        :meth:`purge_expired` deletes them.
        """
        with self._rt.write() as tx:
            owner = self._grant_row(tx.conn, grant_id).agent_id
            if agent_id is not None and owner != agent_id:
                raise UnknownGrant("no such grant")
            # The person's lock, then the grant read again (docs/concurrency.md): of
            # concurrent revokes of one grant exactly one sees it unrevoked.
            if not lock_agent(tx.conn, owner):
                raise UnknownGrant("no such grant")  # erased meanwhile
            row = self._grant_row(tx.conn, grant_id)
            state = grant_state(row, tx.now.latest)
            if state is GrantState.REVOKED:
                raise GrantNotActive("the grant is already revoked", state=state.value)
            if state is GrantState.EXPIRED:
                raise GrantNotActive("the grant has expired", state=state.value)
            self._revoke_rows(tx, row.agent_id, row.host_id, [row])
            return dataclasses.replace(
                grant_view(row, tx.now.latest), revoked_at=tx.now.time, state=GrantState.REVOKED
            )

    @retrying
    def revoke_host(self, agent_id: str, host_id: str) -> int:
        """Withdraw everything shared with one host; returns how many grants ended."""
        check_agent_id(agent_id)
        check_host_id(host_id)
        with self._rt.write() as tx:
            self._core.lock_agent(tx.conn, agent_id)
            self._core.host(tx.conn, host_id)
            rows = store.unrevoked_grants(tx.conn, agent_id, host_id)
            # Delete every shared copy with this host, covered or not.
            self._revoke_rows(
                tx, agent_id, host_id, rows, then=lambda regs: self._core.prune(tx, agent_id, regs)
            )
            return len(rows)

    @retrying
    def revoke_event(self, agent_id: str, host_id: str, event_id: str) -> int:
        """Withdraw everything shared for one event: its grants end and its shared copy is
        deleted. Host-wide grants stay in force for other events. Returns how many grants
        ended."""
        check_agent_id(agent_id)
        check_host_id(host_id)
        check_event_id(event_id)
        with self._rt.write() as tx:
            self._core.lock_agent(tx.conn, agent_id)
            reg = self._core.one_registration(tx.conn, agent_id, host_id, event_id)
            rows = store.unrevoked_grants(tx.conn, agent_id, host_id, event_id)
            self._revoke_rows(
                tx,
                agent_id,
                host_id,
                rows,
                then=lambda _: _copies.delete(tx.conn, [reg.registration_id]),
            )
            return len(rows)

    def _revoke_rows(
        self,
        tx: Tx,
        agent_id: str,
        host_id: str,
        rows: Iterable[GrantRow],
        then: Callable[[list[RegRow]], object] | None = None,
    ) -> None:
        """Revoke ``rows``, delete the copies they alone covered, run ``then`` (further
        deletions of the operation) on the person's registrations with the host, tell the
        host (one notice for the whole operation) and write one entry per grant, last."""
        rows = list(rows)
        regs = self._core.registrations_of(tx.conn, agent_id, host_id)
        if not rows:
            if then is not None:
                then(regs)
            return
        watch = self._core.notices.watch(tx, agent_id, host_id, regs)
        at = tx.now.time
        macs = [(r.grant_id, grant_mac(self._rt.derived, r, at)) for r in rows]
        store.revoke_grants(tx.conn, macs, at)
        deleted = self._core.prune(tx, agent_id, regs)
        if then is not None:
            then(regs)
        notice = None
        if watch is not None:
            notice = self._core.notices.ended(tx, watch, NoticeType.CONSENT_REVOKED, rows)
        for r in rows:
            details: dict[str, Any] = {
                "grant_id": r.grant_id,
                "event_id": r.event_id,
                "fields": sorted(f.value for f in decode_fields(r.fields)),
                "copies_deleted": deleted,
            }
            if notice is not None:
                details["notice"] = notice
            audit.append(
                tx.conn,
                tx.now,
                "consent.revoked",
                subject=agent_id,
                host_id=host_id,
                details=details,
            )
            deleted = 0

    @retrying
    def purge_expired(self) -> int:
        """Delete the shared copies that only expired grants still covered (expiry is
        enforced at read time anyway; this makes it physical). Returns values deleted.

        Each person is purged in a transaction of their own, under their lock and with
        their grants read again after it (docs/concurrency.md), so a grant given meanwhile
        keeps its copies; each purge is one ``consent.expired_purged`` entry of that
        person."""
        with self._rt.read() as tx:
            pairs = store.expired_pairs(tx.conn, db.to_us(tx.now.latest))
        hosts_of: dict[str, list[str]] = {}
        for agent_id, host_id in pairs:
            hosts_of.setdefault(agent_id, []).append(host_id)
        deleted = 0
        for agent_id in sorted(hosts_of):
            with self._rt.write() as tx:
                if not lock_agent(tx.conn, agent_id):
                    continue  # erased meanwhile: nothing of theirs is left
                purged = 0
                notices = []
                for host_id in hosts_of[agent_id]:
                    regs = self._core.registrations_of(tx.conn, agent_id, host_id)
                    untold = self._core.notices.expired(tx, agent_id, host_id, regs)
                    purged += self._core.prune(tx, agent_id, regs)
                    if untold is not None:
                        watch, rows = untold
                        kind = NoticeType.CONSENT_EXPIRED
                        notices.append(self._core.notices.ended(tx, watch, kind, rows))
                if purged or notices:
                    details: dict[str, Any] = {
                        "values": purged,
                        "hosts": sorted(hosts_of[agent_id]),
                    }
                    if notices:
                        details["notices"] = notices
                    audit.append(
                        tx.conn, tx.now, "consent.expired_purged", subject=agent_id, details=details
                    )
                deleted += purged
        return deleted

    # -- shared copies (migration 0011) ------------------------------------------------------
    def seal_copies(self, *, batch: int = 500) -> int:
        """Re-seal the shared copies written before migration 0011 (one ciphertext per
        field) as one blob per registration, person by person; returns how many copies
        were re-sealed (0: none is left). Until then they are read as they are.

        ``DualId.open`` runs it when it is the open that migrated the store to 0011; after
        a separate ``dualid db upgrade``, run ``dualid db seal-copies``. Resumable and safe
        alongside other writes: each person is one transaction under their lock (their
        writes re-seal what they touch anyway) with a ``consent.copies_sealed`` entry, and
        ``batch`` people are looked up at a time.

        .. versionadded:: 0.2.0
        """
        size = check_count(batch, "batch", maximum=10_000)
        done = 0
        after = ""
        while True:
            with self._rt.read() as tx:
                agents = _sealed.legacy_copy_agents(tx.conn, size, after=after)
            if not agents:
                return done
            for agent_id in agents:
                done += self._seal_copies_of(agent_id)
            after = agents[-1]

    @retrying
    def _seal_copies_of(self, agent_id: str) -> int:
        with self._rt.write() as tx:
            if not lock_agent(tx.conn, agent_id):
                return 0  # erased meanwhile: nothing of theirs is left
            regs = self._core.registrations_of_agent(tx.conn, agent_id)
            where = {r.registration_id: (r.registration_id, r.host_id, r.event_id) for r in regs}
            dek = load_dek(tx.conn, self._rt.provider, agent_id)
            sealed = _copies.seal_legacy_of(tx.conn, self._rt, dek, agent_id, where, tx.now.time)
            if sealed:
                audit.append(
                    tx.conn,
                    tx.now,
                    "consent.copies_sealed",
                    subject=agent_id,
                    details={"copies": sealed},
                )
            return sealed

    # -- grant MACs ------------------------------------------------------------------------
    @retrying
    def seal_grants(self) -> SealReport:
        """Give each grant without a MAC (a row from before migration 0007) its MAC, once
        the audit log's replay shows the row exactly as logged; until then such a grant
        shares nothing (reads fail closed on rows whose MAC does not verify). A row the log
        does not explain (edited, forged) is refused, named by id in the report, the
        warning log and the audit entry, and stays untrusted.

        ``DualId.open`` runs it when it is the open that migrated the store to 0007; after
        a separate ``dualid db upgrade``, run ``dualid audit seal-grants``. Safe to run
        again and alongside other writes: a row the SDK changed meanwhile has its MAC
        already. Each batch is one transaction with a ``consent.grants_sealed`` entry.

        .. versionadded:: 0.2.0
        """
        with self._rt.store.read() as conn:
            begin_snapshot(conn)  # the log and the rows in one snapshot
            agreeing, refused = unsealed_grants(conn)
        tag = self._rt.derived.grant_tag
        sealed = 0
        first = True
        for start in range(0, max(len(agreeing), 1 if refused else 0), _SEAL_BATCH):
            chunk = agreeing[start : start + _SEAL_BATCH]
            with self._rt.write() as tx:
                done = sum(store.seal_grant(tx.conn, row[0], tag(*row[:9])) for row in chunk)
                details: dict[str, Any] = {"sealed": done}
                if first and refused:
                    details["refused"] = len(refused)
                    details["refused_ids"] = refused[:_REFUSED_LOGGED]
                if done or "refused" in details:
                    audit.append(tx.conn, tx.now, "consent.grants_sealed", details=details)
            sealed += done
            first = False
        if refused:
            log.warning(
                "%d grants without a MAC disagree with the audit log and stay untrusted: %s",
                len(refused),
                ", ".join(refused[:_REFUSED_LOGGED]),
            )
        return SealReport(sealed, tuple(refused))

    # -- defaults --------------------------------------------------------------------------
    @retrying
    def set_default(
        self,
        agent_id: str,
        event_type: EventType | str,
        fields: Iterable[DataField | str],
        *,
        host_id: str | None = None,
    ) -> None:
        """What to share by default when registering for ``event_type`` with
        ``share=None``; with ``host_id``, a preference for that host only, which takes
        precedence over the per-event-type default. An empty set shares nothing."""
        check_agent_id(agent_id)
        choice = _default_choice(event_type, fields, host_id)
        with self._rt.write() as tx:
            self._set_default_in(tx, agent_id, *choice)

    @retrying
    def set_default_user(
        self,
        user_id: str,
        event_type: EventType | str,
        fields: Iterable[DataField | str],
        *,
        host_id: str | None = None,
    ) -> None:
        """:meth:`set_default` for a platform userId: the agentId is looked up, or created
        in the same transaction, so a refused call provisions nothing (the HTTP API's
        ``PUT /me/defaults/{event_type}`` uses it).

        .. versionadded:: 0.2.0
        """
        choice = _default_choice(event_type, fields, host_id)
        with self._rt.write() as tx:
            self._set_default_in(tx, self._agent_in(tx, user_id), *choice)

    def _set_default_in(
        self,
        tx: Tx,
        agent_id: str,
        etype: EventType,
        chosen: frozenset[DataField],
        host_id: str | None,
    ) -> None:
        self._core.lock_agent(tx.conn, agent_id)
        if host_id is not None:
            self._core.host(tx.conn, host_id)
        store.put_default(
            tx.conn, agent_id, etype.value, host_id or "", encode_fields(chosen), tx.now.time
        )
        audit.append(
            tx.conn,
            tx.now,
            "consent.default_set",
            subject=agent_id,
            host_id=host_id,
            details={"event_type": etype.value, "fields": sorted(f.value for f in chosen)},
        )

    def defaults(self, agent_id: str) -> dict[tuple[EventType, str | None], frozenset[DataField]]:
        """``{(event_type, host_id or None): fields}``."""
        check_agent_id(agent_id)
        with self._rt.store.read() as conn:
            return {
                (EventType(r.event_type), r.host_id or None): decode_fields(r.fields)
                for r in store.defaults_of(conn, agent_id)
            }

    # -- the person's view -------------------------------------------------------------------
    def shared(self, agent_id: str) -> list[SharedItem]:
        """What is shared with whom, for which event, since when and until when (active
        grants only)."""
        check_agent_id(agent_id)
        with self._rt.read() as tx:
            names: dict[str, str] = {}
            items = []
            rows = store.grants_of(tx.conn, agent_id)
            told = Endpoints.grant_notices(
                tx.conn, NoticeType.CONSENT_GRANTED.value, [r.grant_id for r in rows]
            )
            for r in rows:
                if grant_state(r, tx.now.latest) is not GrantState.ACTIVE:
                    continue
                if not self._core.trusted(r):  # an edited row shares nothing (MAC)
                    continue
                if r.host_id not in names:
                    names[r.host_id] = self._core.host(tx.conn, r.host_id).name
                items.append(
                    SharedItem(
                        grant_id=r.grant_id,
                        host_id=r.host_id,
                        host_name=names[r.host_id],
                        fields=decode_fields(r.fields),
                        event_id=r.event_id,
                        event_type=EventType(r.event_type) if r.event_type else None,
                        purpose=r.purpose,
                        since=r.created_at,
                        until=r.expires_at,
                        notice=told.get(r.grant_id),
                    )
                )
            return items

    def history(
        self, agent_id: str, *, after: int = 0, limit: int | None = None
    ) -> list[HistoryEntry]:
        """The person's own audit entries, oldest first (those after sequence number
        ``after``, at most ``limit``), each with the notices its change sent to the host
        (``notices``: whether and when the host was told, for instance to delete what a
        revocation withdrew).

        .. versionchanged:: 0.2.0 ``after``, ``limit`` and each entry's ``notices``.
        """
        check_agent_id(agent_id)
        records = audit.AuditLog(self._rt).entries(subject=agent_id, after=after, limit=limit)
        linked = {r.seq: _notice_ids(r.details) for r in records}
        wanted = [n for ids in linked.values() for n in ids]
        found = {}
        if wanted:
            with self._rt.store.read() as conn:
                found = Endpoints.notices(conn, wanted)
        return [
            HistoryEntry(
                **{f.name: getattr(r, f.name) for f in dataclasses.fields(AuditRecord)},
                notices=tuple(found[n] for n in linked[r.seq] if n in found),
            )
            for r in records
        ]

    def explain(
        self, agent_id: str, host_id: str, event_id: str, field: DataField | str
    ) -> Explanation:
        """Why ``host_id`` sees (or does not see) ``field`` of this person for
        ``event_id``: the grant, requirement or missing piece behind it."""
        check_agent_id(agent_id)
        check_host_id(host_id)
        check_event_id(event_id)
        (target,) = parse_fields([field])
        with self._rt.read() as tx:
            conn = tx.conn
            self._core.host(conn, host_id)
            declared = required = False

            def answer(
                visible: bool, reason: str, grant_ids: tuple[str, ...] = (), detail: str = ""
            ) -> Explanation:
                return Explanation(
                    visible=visible,
                    reason=reason,
                    field=target,
                    host_id=host_id,
                    event_id=event_id,
                    grant_ids=grant_ids,
                    declared=declared,
                    required=required,
                    detail=detail,
                )

            regs = self._core.registrations_of(conn, agent_id, host_id, event_id)
            if not regs:
                return answer(False, "not_registered")
            reg = regs[0]
            req = self._core.requirements(conn, host_id).get(reg.event_type)
            declared = target in (req.declared if req else frozenset())
            required = target in (req.required if req else frozenset())
            if not declared:
                return answer(
                    False, "not_declared", detail="the host's requirement does not list this field"
                )
            all_rows = store.grants_of(conn, agent_id, host_id)
            # A row whose MAC does not verify is no grant (edited outside dualid, or not
            # sealed since migration 0007).
            relevant = [
                r
                for r in all_rows
                if target in decode_fields(r.fields)
                and grant_covers(r, reg)
                and self._core.trusted(r)
            ]
            active = [r for r in relevant if grant_state(r, tx.now.latest) is GrantState.ACTIVE]
            if not active:
                if not relevant:
                    return answer(False, "no_grant")
                last = max(relevant, key=lambda r: r.created_hlc)
                return answer(
                    False,
                    grant_state(last, tx.now.latest).value,
                    grant_ids=tuple(r.grant_id for r in relevant),
                )
            present = self._core.present_fields(conn, [reg.registration_id])
            ids = tuple(r.grant_id for r in active)
            if target.value not in present.get(reg.registration_id, set()):
                return answer(False, "no_value", ids, "consented, but no value was shared")
            return answer(True, "visible", ids)

    # -- receipts --------------------------------------------------------------------------
    @retrying
    def receipt(
        self, grant_id: str, *, agent_id: str | None = None, proof: bool = True
    ) -> dict[str, Any]:
        """A signed, JSON-serialisable consent receipt for one grant (in the spirit of
        ISO/IEC TS 27560 and the Kantara Consent Receipt). It names the person by the
        host's pairwise ref, never by agentId, so it can be handed to the host. With
        ``agent_id``, the grant must belong to that person (else
        :class:`~dualid.errors.UnknownGrant`).

        With ``proof`` (the default) the receipt's ``log`` section gives the grant's audit
        entry (its seq and hash), a signed checkpoint of the log and the inclusion proof of
        that entry in it, so anyone with the log's public key can check, without the
        database, that the log the operator signed holds the grant (:func:`verify_receipt`
        with ``log_key``). When no stored checkpoint covers the entry yet, one is made (and
        witnessed) first. The receipt has no ``log`` for a grant whose entry the log does not
        hold (``sdk.audit.verify(deep=True)`` reports that grant), and when no checkpoint
        covering it could be signed because the checkpoint key was rotating meanwhile."""
        if not isinstance(proof, bool):
            raise InvalidInput("proof must be True or False", field="proof")
        log = None
        if proof and self._log is not None:
            log = self._log_section(self._log, grant_id, agent_id)
        with self._rt.write() as tx:
            row = self._grant_row(tx.conn, grant_id)
            if agent_id is not None and row.agent_id != agent_id:
                raise UnknownGrant("no such grant")
            host = self._core.host(tx.conn, row.host_id)
            # The active key, read under the lock its rotation waits for (docs/keys.md).
            signer = self._rt.keyring.signer(tx.conn, RECEIPT_SIGNING, lock=True)
            receipt = build_receipt(
                row,
                host,
                controller=self._controller,
                subject_ref=self._rt.derived.pairwise_ref(row.host_id, row.agent_id),
                state=grant_state(row, tx.now.latest),
                issued=tx.now,
                signing_key=signer.key,
                log=log,
            )
            audit.append(
                tx.conn,
                tx.now,
                "consent.receipt_issued",
                subject=row.agent_id,
                host_id=row.host_id,
                details={"grant_id": row.grant_id},
            )
            return receipt

    def _log_section(
        self, log: audit.AuditLog, grant_id: str, agent_id: str | None
    ) -> dict[str, Any] | None:
        """The receipt's ``log`` from ``log``: the grant's entry, a checkpoint that covers it
        (made now when none stored does) and the entry's inclusion proof in that
        checkpoint."""
        with self._rt.store.read() as conn:
            row = self._grant_row(conn, grant_id)
            if agent_id is not None and row.agent_id != agent_id:
                raise UnknownGrant("no such grant")
            entry = _grant_entry(conn, row.agent_id, grant_id)
        if entry is None:
            return None
        checkpoint = log.latest_checkpoint()
        if checkpoint is None or not _covers(checkpoint, entry):
            try:
                checkpoint = log.checkpoint()
            except (audit.WitnessUnavailable, StoreUnavailable):
                # A witness that failed: the checkpoint was stored and signed, the receipt
                # proves against it and the witness gets the next one. A checkpoint key that
                # kept rotating while it was signed: the newest stored one may cover the
                # entry; else the receipt goes out without its log section, as documented.
                checkpoint = log.latest_checkpoint()
            if checkpoint is None or not _covers(checkpoint, entry):
                return None
        return log_section(
            entry.seq, entry.entry_hash, checkpoint, log.prove(entry.seq, checkpoint)
        )

    def verify_receipt(self, receipt: Mapping[str, Any]) -> bool:
        """True for a receipt this SDK's store signed and nobody changed since: signed by
        the current receipt key, or by a retired one before it was retired
        (``sdk.keys.rotate_signing``). One with a ``log`` section must also prove its
        grant's entry in a checkpoint this log signed."""
        if not isinstance(receipt, Mapping):
            return False
        signer = receipt_signer(receipt, self.receipt_public_keys())
        if signer is None:
            return False
        if "log" not in receipt:
            return True
        if self._log is None:
            return False
        try:
            # signed by this log, by a key in use when it was signed
            self._log._own(receipt["log"]["checkpoint"])
        except (InvalidCheckpoint, InvalidInput, KeyError, TypeError):
            return False
        log_keys = tuple(k.public_key() for k in self._log.public_keys())
        return _verify_signed(receipt, signer.public_key(), log_keys)

    def receipt_public_key(self) -> str:
        """The current receipt-signing public key (PEM), for third parties that verify
        receipts; :meth:`receipt_public_keys` lists the retired ones too."""
        return self.receipt_public_keys()[0].public_key_pem

    def receipt_public_keys(self) -> list[SigningKey]:
        """Every receipt-signing key, the current one first, each with the
        ``signing_key_id`` receipts name it by and when it was retired.

        .. versionadded:: 0.2.0
        """
        with self._rt.store.read() as conn:
            return self._rt.keyring.signing_keys(conn, RECEIPT_SIGNING, receipt_key_id)


_GRANT_ACTIONS = frozenset({"consent.granted", "registration.created"})


def _grant_entry(conn: Conn, agent_id: str, grant_id: str) -> AuditRecord | None:
    """The entry that made grant ``grant_id`` (a grant, or a registration that granted)."""
    for record in audit.iter_records(conn, subject=agent_id):
        if record.action in _GRANT_ACTIONS and record.details.get("grant_id") == grant_id:
            return record
    return None


def _covers(checkpoint: audit.Checkpoint, entry: AuditRecord) -> bool:
    try:
        return checkpoint.head(entry.partition).size >= entry.pseq
    except InvalidCheckpoint:  # a checkpoint of another partitioning
        return False


def _grant_terms(
    host_id: str,
    fields: Iterable[DataField | str],
    event_id: str | None,
    event_type: EventType | str | None,
    purpose: str,
) -> tuple[str, frozenset[DataField], str | None, EventType | None, str]:
    """Validate a grant's arguments before any transaction opens."""
    check_host_id(host_id)
    granted = parse_fields(fields)
    if not granted:
        raise InvalidInput("a grant needs at least one field")
    if event_id is not None:
        check_event_id(event_id)
    etype = parse_event_type(event_type) if event_type is not None else None
    return host_id, granted, event_id, etype, check_purpose(purpose)


def _default_choice(
    event_type: EventType | str, fields: Iterable[DataField | str], host_id: str | None
) -> tuple[EventType, frozenset[DataField], str | None]:
    """Validate a default's arguments before any transaction opens."""
    etype = parse_event_type(event_type)
    chosen = parse_fields(fields)
    if host_id is not None:
        check_host_id(host_id)
    return etype, chosen, host_id


def _notice_ids(details: Mapping[str, Any]) -> list[str]:
    """The notices an entry's change wrote (``notice``, or a purge's ``notices``)."""
    one = details.get("notice")
    many = details.get("notices")
    ids = [one] if isinstance(one, str) else []
    if isinstance(many, list):
        ids += [n for n in many if isinstance(n, str)]
    return ids
