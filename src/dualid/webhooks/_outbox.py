"""The transactional outbox: the notice of a change is written by the change's own
transaction, after its locks and before its audit entry, so a change and its notice
commit together or not at all (``docs/webhooks.md``).

A notice is written only for a host whose endpoint is enabled when the change reads it
(one primary-key read, no lock): a change that starts after :meth:`Hosts.set_webhook
<dualid.consent.Hosts.set_webhook>` returned is reported. Payloads are thin and PII-free:
the host's pairwise ref of the person, the host's own event ids and types, grant ids and
field names, never a value, never an agentId.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from dualid._runtime import Runtime, Tx, new_id
from dualid.store import _webhooks as store

from ._types import NoticeType

__all__ = ["Outbox", "iso"]


def iso(value: datetime) -> str:
    """RFC 3339 in UTC with microseconds and a ``Z``, as the payloads write times."""
    return value.isoformat(timespec="microseconds").replace("+00:00", "Z")


class Outbox:
    """Writes notices inside the caller's transaction. ``written`` counts the notices this
    process committed or tried to (the background deliverer wakes up on a change)."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self.written = 0

    def endpoint_since(self, tx: Tx, host_id: str) -> datetime | None:
        """When the host's enabled endpoint was created; None when it has none (then the
        change writes no notice)."""
        return store.open_endpoint(tx.conn, host_id)

    def ref(self, host_id: str, agent_id: str) -> str:
        """The host's pairwise ref of the person (P5): the only name a notice gives."""
        return self._rt.derived.pairwise_ref(host_id, agent_id)

    def write(
        self,
        tx: Tx,
        host_id: str,
        kind: NoticeType,
        data: Mapping[str, Any],
        *,
        grant_id: str | None = None,
    ) -> str:
        """Insert one pending notice stamped with the transaction's reading; its id (the
        ``webhook-id`` the host will see)."""
        notice_id = new_id("msg")
        body = {
            "type": kind.value,
            "timestamp": iso(tx.now.time),
            "data": {"hostId": host_id, **data},
        }
        payload = json.dumps(body, separators=(",", ":"), ensure_ascii=True)
        store.insert_notice(tx.conn, notice_id, host_id, kind.value, grant_id, payload, tx.now.time)
        self.written += 1
        return notice_id

    def person_erased(self, tx: Tx, agent_id: str) -> int:
        """Tell every host the person dealt with (a registration or a grant) and that has
        an enabled endpoint to delete everything it holds for its ref; the caller holds
        the person's lock and erases them next, in the same transaction. How many
        notices were written."""
        written = 0
        for host_id in store.hosts_of_agent(tx.conn, agent_id):
            if self.endpoint_since(tx, host_id) is None:
                continue
            data = {"refs": [self.ref(host_id, agent_id)]}
            self.write(tx, host_id, NoticeType.PERSON_ERASED, data)
            written += 1
        return written
