"""The notices consent changes write to the outbox (``dualid.webhooks``): what a host is
told, in the transaction of the change, before its audit entry.

A change that may end what a host sees first :meth:`watch`\\ es the person's shared copies
with that host (None when the host has no enabled endpoint: then nothing is written and
nothing more is read); once the change is made, the notice names the grants it ended and,
per event, the fields whose values the host no longer receives and must delete
(``delete``): those present in a copy before the change and gone after it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from dualid._runtime import Tx
from dualid.models import DataField, EventType
from dualid.store import _grants
from dualid.store._grants import GrantRow
from dualid.webhooks import NoticeType
from dualid.webhooks._endpoints import Endpoints
from dualid.webhooks._outbox import Outbox, iso

if TYPE_CHECKING:  # _engine builds this module's object: no import cycle at run time
    from ._engine import ConsentCore, RegRow

__all__ = ["ConsentNotices", "Watch"]


def _names(fields: Iterable[str]) -> list[str]:
    """camelCase field names in :class:`DataField` order."""
    chosen = set(fields)
    return [f.alias for f in DataField if f.value in chosen]


def _grant_terms(row: GrantRow) -> dict[str, Any]:
    return {
        "grantId": row.grant_id,
        "eventId": row.event_id,
        "eventType": row.event_type,
        "fields": _names(row.fields.split(",")),
    }


@dataclass
class Watch:
    """A person's shared copies with one host before a change."""

    agent_id: str
    host_id: str
    regs: list[RegRow]
    before: dict[str, set[str]]


class ConsentNotices:
    def __init__(self, core: ConsentCore, outbox: Outbox) -> None:
        self._core = core
        self.outbox = outbox

    def watch(
        self, tx: Tx, agent_id: str, host_id: str, regs: list[RegRow] | None = None
    ) -> Watch | None:
        """The person's copies with ``host_id`` now (of ``regs``, by default all their
        registrations there); None when the host has no enabled endpoint."""
        if self.outbox.endpoint_since(tx, host_id) is None:
            return None
        if regs is None:
            regs = self._core.registrations_of(tx.conn, agent_id, host_id)
        before = self._core.present_fields(tx.conn, [r.registration_id for r in regs])
        return Watch(agent_id, host_id, regs, before)

    def _deleted(self, tx: Tx, watch: Watch) -> list[dict[str, Any]]:
        after = self._core.present_fields(tx.conn, [r.registration_id for r in watch.regs])
        out = []
        for reg in watch.regs:
            gone = watch.before.get(reg.registration_id, set()) - after.get(
                reg.registration_id, set()
            )
            if gone:
                out.append(
                    {
                        "eventId": reg.event_id,
                        "eventType": reg.event_type.value,
                        "fields": _names(gone),
                    }
                )
        return out

    def ended(
        self,
        tx: Tx,
        watch: Watch,
        kind: NoticeType,
        grants: Sequence[GrantRow],
        extra: dict[str, Any] | None = None,
    ) -> str:
        """The notice of a change that ended ``grants`` (revocation, expiry, cancellation):
        which grants, and per event what to delete."""
        data = {
            "ref": self.outbox.ref(watch.host_id, watch.agent_id),
            **(extra or {}),
            "grants": [_grant_terms(g) for g in grants],
            "delete": self._deleted(tx, watch),
        }
        grant_id = grants[0].grant_id if len(grants) == 1 else None
        return self.outbox.write(tx, watch.host_id, kind, data, grant_id=grant_id)

    def granted(
        self,
        tx: Tx,
        agent_id: str,
        host_id: str,
        grant_id: str,
        *,
        fields: frozenset[DataField],
        event_id: str | None,
        event_type: EventType | None,
        expires_at: datetime | None,
    ) -> str | None:
        """The notice of a new grant (given directly or by a registration); None when the
        host has no enabled endpoint."""
        if self.outbox.endpoint_since(tx, host_id) is None:
            return None
        data = {
            "ref": self.outbox.ref(host_id, agent_id),
            "grantId": grant_id,
            "eventId": event_id,
            "eventType": event_type.value if event_type is not None else None,
            "fields": _names(f.value for f in fields),
            "expiresAt": iso(expires_at) if expires_at is not None else None,
        }
        return self.outbox.write(tx, host_id, NoticeType.CONSENT_GRANTED, data, grant_id=grant_id)

    def expired(
        self, tx: Tx, agent_id: str, host_id: str, regs: list[RegRow]
    ) -> tuple[Watch, list[GrantRow]] | None:
        """Before a purge of the person's expired copies with ``host_id``: the watch and
        the expired grants the host has not been told of (those that expired while its
        endpoint existed, and have no ``consent.expired`` notice yet); None when there is
        nothing to tell."""
        since = self.outbox.endpoint_since(tx, host_id)
        if since is None:
            return None
        latest = tx.now.latest
        expired = [
            r
            for r in _grants.unrevoked_grants(tx.conn, agent_id, host_id)
            if r.revoked_at is None and r.expires_at is not None and since <= r.expires_at <= latest
        ]
        if not expired:
            return None
        told = Endpoints.grant_notices(
            tx.conn, NoticeType.CONSENT_EXPIRED.value, [r.grant_id for r in expired]
        )
        untold = [r for r in expired if r.grant_id not in told]
        if not untold:
            return None
        watch = self.watch(tx, agent_id, host_id, regs)
        assert watch is not None  # the endpoint was read in this transaction
        return watch, untold
