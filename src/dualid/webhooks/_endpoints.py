"""A host's endpoint: set, removed, its secret rotated, read; its deliveries listed; and the
notices as the person sees them. The public methods are :class:`~dualid.consent.Hosts`'
(``sdk.hosts.set_webhook`` and the rest), which check their arguments and call these."""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from dualid import audit
from dualid._checks import INT64_MAX
from dualid._runtime import Runtime
from dualid.errors import InvalidInput, UnknownHost, UnknownWebhook
from dualid.store import _hosts
from dualid.store import _webhooks as store
from dualid.store._sql import Conn
from dualid.store._webhooks import EndpointRow, NoticeRow

from ._http import check_url
from ._outbox import iso
from ._signing import SigningKeys
from ._types import Delivery, DeliveryPage, HostNotice, NoticeStatus, WebhookEndpoint

__all__ = ["ROOT_PURPOSE", "Endpoints"]

ROOT_PURPOSE = "dualid.webhooks/v1"
"""The purpose under which the endpoints' signing keys derive from the root secret."""
_SALT_BYTES = 16


def _encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"d{seq}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: object) -> int:
    if not isinstance(cursor, str) or len(cursor) > 40:
        raise InvalidInput("invalid cursor", field="cursor")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        raise InvalidInput("invalid cursor", field="cursor") from None
    if not raw.startswith("d") or not raw[1:].isdigit() or int(raw[1:]) > INT64_MAX:
        raise InvalidInput("invalid cursor", field="cursor")
    return int(raw[1:])


def notice_view(row: NoticeRow) -> HostNotice:
    return HostNotice(
        id=row.notice_id,
        host_id=row.host_id,
        type=row.type,
        status=NoticeStatus(row.status),
        created_at=row.created_at,
        delivered_at=row.delivered_at,
        attempts=row.attempts,
    )


def delivery_view(row: NoticeRow) -> Delivery:
    status = NoticeStatus(row.status)
    return Delivery(
        id=row.notice_id,
        type=row.type,
        status=status,
        created_at=row.created_at,
        attempts=row.attempts,
        payload_json=row.payload,
        last_attempt_at=row.last_attempt_at,
        last_status=row.last_status,
        last_error=row.last_error,
        next_attempt_at=row.next_attempt_at if status is NoticeStatus.PENDING else None,
        delivered_at=row.delivered_at,
    )


class Endpoints:
    """Endpoint management over the store; every write locks the host row first."""

    def __init__(self, rt: Runtime, *, allow_private: bool = False) -> None:
        self._rt = rt
        self.allow_private = allow_private
        self._root = rt.derived.application_secret(ROOT_PURPOSE)

    def keys(self, host_id: str, salt: bytes) -> SigningKeys:
        return SigningKeys.derive(self._root, host_id, salt)

    def generations(self, row: EndpointRow, now: datetime) -> list[SigningKeys]:
        """The key generations that sign now: the current one, and the previous one
        while its grace period lasts."""
        out = [self.keys(row.host_id, row.salt)]
        if row.prev_salt is not None and row.prev_until is not None and row.prev_until > now:
            out.append(self.keys(row.host_id, row.prev_salt))
        return out

    def view(self, row: EndpointRow, now: datetime, *, secret: bool = False) -> WebhookEndpoint:
        generations = self.generations(row, now)
        return WebhookEndpoint(
            host_id=row.host_id,
            url=row.url,
            enabled=row.disabled_at is None,
            public_keys=tuple(g.whpk for g in generations),
            created_at=row.created_at,
            updated_at=row.updated_at,
            previous_valid_until=row.prev_until if len(generations) > 1 else None,
            disabled_at=row.disabled_at,
            disabled_reason=row.disabled_reason,
            secret=generations[0].whsec if secret else None,
        )

    def set(self, host_id: str, url: str) -> WebhookEndpoint:
        check_url(url, allow_private=self.allow_private)
        with self._rt.write() as tx:
            if not _hosts.lock_host(tx.conn, host_id):
                raise UnknownHost("no such host", host_id=host_id)
            existing = store.get_endpoint(tx.conn, host_id)
            if existing is None:
                store.insert_endpoint(
                    tx.conn, host_id, url, secrets.token_bytes(_SALT_BYTES), tx.now.time
                )
            else:
                store.update_endpoint(tx.conn, host_id, url, tx.now.time)
            row = store.get_endpoint(tx.conn, host_id)
            assert row is not None
            audit.append(
                tx.conn,
                tx.now,
                "host.webhook_set",
                host_id=host_id,
                details={
                    "created": existing is None,
                    "enabled_again": existing is not None and existing.disabled_at is not None,
                },
            )
            return self.view(row, tx.now.time, secret=existing is None)

    def remove(self, host_id: str) -> int:
        with self._rt.write() as tx:
            if not _hosts.lock_host(tx.conn, host_id):
                raise UnknownHost("no such host", host_id=host_id)
            if not store.delete_endpoint(tx.conn, host_id):
                raise UnknownWebhook("the host has no webhook endpoint", host_id=host_id)
            given_up = store.fail_pending(tx.conn, host_id, "endpoint removed")
            audit.append(
                tx.conn,
                tx.now,
                "host.webhook_removed",
                host_id=host_id,
                details={"pending_given_up": given_up},
            )
            return given_up

    def rotate(self, host_id: str, keep_previous_for: timedelta) -> WebhookEndpoint:
        with self._rt.write() as tx:
            if not _hosts.lock_host(tx.conn, host_id):
                raise UnknownHost("no such host", host_id=host_id)
            existing = store.get_endpoint(tx.conn, host_id)
            if existing is None:
                raise UnknownWebhook("the host has no webhook endpoint", host_id=host_id)
            until = tx.now.time + keep_previous_for
            salt = secrets.token_bytes(_SALT_BYTES)
            store.rotate_endpoint(tx.conn, host_id, salt, existing.salt, until, tx.now.time)
            audit.append(
                tx.conn,
                tx.now,
                "host.webhook_secret_rotated",
                host_id=host_id,
                details={"previous_valid_until": iso(until)},
            )
            row = store.get_endpoint(tx.conn, host_id)
            assert row is not None
            return self.view(row, tx.now.time, secret=True)

    def get(self, host_id: str) -> WebhookEndpoint:
        with self._rt.read() as tx:
            row = self._existing(tx.conn, host_id)
            return self.view(row, tx.now.time)

    def deliveries(self, host_id: str, cursor: str | None, limit: int) -> DeliveryPage:
        before = INT64_MAX if cursor is None else _decode_cursor(cursor)
        with self._rt.read() as tx:
            if _hosts.get_host(tx.conn, host_id) is None:
                raise UnknownHost("no such host", host_id=host_id)
            rows = store.notices_of_host(tx.conn, host_id, before, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = _encode_cursor(rows[-1].seq) if more else None
        return DeliveryPage([delivery_view(r) for r in rows], next_cursor)

    @staticmethod
    def _existing(conn: Conn, host_id: str) -> EndpointRow:
        if _hosts.get_host(conn, host_id) is None:
            raise UnknownHost("no such host", host_id=host_id)
        row = store.get_endpoint(conn, host_id)
        if row is None:
            raise UnknownWebhook("the host has no webhook endpoint", host_id=host_id)
        return row

    # -- the person's side --------------------------------------------------------------
    @staticmethod
    def notices(conn: Conn, notice_ids: Sequence[str]) -> dict[str, HostNotice]:
        """``{notice id: what the person sees of it}``."""
        return {r.notice_id: notice_view(r) for r in store.notices_by_id(conn, notice_ids)}

    @staticmethod
    def grant_notices(conn: Conn, kind: str, grant_ids: Sequence[str]) -> dict[str, HostNotice]:
        """``{grant id: its notice of type kind}`` (the newest one)."""
        out: dict[str, HostNotice] = {}
        for r in sorted(store.notices_by_grant(conn, kind, grant_ids), key=lambda r: r.seq):
            if r.grant_id is not None:
                out[r.grant_id] = notice_view(r)
        return out
