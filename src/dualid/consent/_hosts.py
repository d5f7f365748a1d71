"""Hosts and their data requirements."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from dualid import audit
from dualid._checks import check_count, check_text
from dualid._runtime import Runtime
from dualid.errors import AlreadyExists, InvalidInput, UnknownHost
from dualid.models import DataField, EventType, HostKind
from dualid.store import _hosts as store
from dualid.store._retry import retrying
from dualid.webhooks import DeliveryPage, WebhookEndpoint
from dualid.webhooks._endpoints import Endpoints

from ._engine import (
    ConsentCore,
    check_host_id,
    check_purpose,
    encode_fields,
    parse_event_type,
    parse_fields,
    parse_host_kind,
)
from ._types import Host, Requirement

__all__ = ["Hosts"]


class Hosts:
    """The parties that receive shared data, and what each needs per event type.

    Example (``sdk`` an open :class:`~dualid.DualId`)::

        sdk.hosts.register("bistro-7", kind=HostKind.BUSINESS, name="Bistro Seven")
        sdk.hosts.require("bistro-7", EventType.RESERVATION,
                          required={DataField.NAME, DataField.PHONE_NUMBER},
                          optional={DataField.EMAIL}, purpose="table booking")
    """

    def __init__(self, rt: Runtime, core: ConsentCore, endpoints: Endpoints | None = None) -> None:
        self._rt = rt
        self._core = core
        self._endpoints = endpoints or Endpoints(rt)

    @retrying
    def register(
        self, host_id: str, *, kind: HostKind | str, name: str, exist_ok: bool = False
    ) -> Host:
        """Register a host. A second registration of the same id raises
        :class:`~dualid.errors.AlreadyExists` unless ``exist_ok`` (then the name and kind
        are updated)."""
        check_host_id(host_id)
        host_kind = parse_host_kind(kind)
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            raise InvalidInput("a host name is 1-200 characters")
        check_text(name, "name")
        with self._rt.write() as tx:
            row = store.HostRow(host_id, host_kind.value, name.strip(), tx.now.time)
            if not store.insert_host(tx.conn, row):
                if not exist_ok:
                    raise AlreadyExists(
                        "a host with this id is already registered", host_id=host_id
                    )
                store.update_host(tx.conn, host_id, host_kind.value, name.strip())
            audit.append(
                tx.conn,
                tx.now,
                "host.registered",
                host_id=host_id,
                details={"kind": host_kind.value},
            )
            return self._core.host(tx.conn, host_id)

    def get(self, host_id: str) -> Host:
        check_host_id(host_id)
        with self._rt.store.read() as conn:
            return self._core.host(conn, host_id)

    def list(self) -> list[Host]:
        with self._rt.store.read() as conn:
            return [self._core.host(conn, host_id) for host_id in store.host_ids(conn)]

    @retrying
    def require(
        self,
        host_id: str,
        event_type: EventType | str,
        *,
        required: Iterable[DataField | str] = (),
        optional: Iterable[DataField | str] = (),
        purpose: str,
    ) -> Requirement:
        """Declare (or replace) what ``host_id`` needs for ``event_type``. A host only ever
        receives declared fields (data minimisation); a field both required and optional
        counts as required."""
        check_host_id(host_id)
        etype = parse_event_type(event_type)
        req = parse_fields(required)
        opt = parse_fields(optional) - req
        why = check_purpose(purpose)
        with self._rt.write() as tx:
            # The host's lock first (docs/concurrency.md): concurrent replacements of one
            # requirement apply one after the other.
            if not store.lock_host(tx.conn, host_id):
                raise UnknownHost("no such host", host_id=host_id)
            store.put_requirement(
                tx.conn,
                store.RequirementRow(
                    host_id, etype.value, encode_fields(req), encode_fields(opt), why, tx.now.time
                ),
            )
            audit.append(
                tx.conn,
                tx.now,
                "host.requirement_set",
                host_id=host_id,
                details={
                    "event_type": etype.value,
                    "required": sorted(f.value for f in req),
                    "optional": sorted(f.value for f in opt),
                },
            )
            return self._core.requirements(tx.conn, host_id)[etype]

    def requirement(self, host_id: str, event_type: EventType | str) -> Requirement | None:
        """The requirement of ``host_id`` for ``event_type``, or None if it declared none."""
        check_host_id(host_id)
        etype = parse_event_type(event_type)
        with self._rt.store.read() as conn:
            self._core.host(conn, host_id)
            return self._core.requirements(conn, host_id).get(etype)

    def requirements(self, host_id: str) -> dict[EventType, Requirement]:
        check_host_id(host_id)
        with self._rt.store.read() as conn:
            self._core.host(conn, host_id)
            return self._core.requirements(conn, host_id)

    # -- webhooks ----------------------------------------------------------------------------
    @retrying
    def set_webhook(self, host_id: str, url: str) -> WebhookEndpoint:
        """Send the host signed notices (Standard Webhooks) at ``url`` from now on: when a
        person grants, revokes or cancels, when a grant expires (at the purge after it),
        when a person is erased (``docs/webhooks.md``). Creating the endpoint returns its
        signing secret (``.secret``, ``whsec_...``) once; setting the URL of an existing
        endpoint keeps the secret (``.secret`` is None) and enables it again if it was
        disabled. ``url`` must be ``https`` on a public address unless the SDK was opened
        with ``webhooks_allow_private=True`` (:class:`~dualid.errors.InvalidWebhookUrl`).

        Example (``sdk`` an open :class:`~dualid.DualId`)::

            endpoint = sdk.hosts.set_webhook("bistro-7", "https://bistro.example/hooks")
            endpoint.secret  # 'whsec_...': give it to the host now, it is not shown again

        .. versionadded:: 0.2.0
        """
        check_host_id(host_id)
        return self._endpoints.set(host_id, url)

    @retrying
    def remove_webhook(self, host_id: str) -> None:
        """Stop sending the host notices: its endpoint is deleted and its undelivered
        notices are given up (``failed``). :class:`~dualid.errors.UnknownWebhook` when it
        has none.

        .. versionadded:: 0.2.0
        """
        check_host_id(host_id)
        self._endpoints.remove(host_id)

    @retrying
    def rotate_webhook_secret(
        self, host_id: str, *, keep_previous_for: timedelta = timedelta(hours=24)
    ) -> WebhookEndpoint:
        """A new signing secret and Ed25519 key for the host's endpoint, returned once
        (``.secret``). For ``keep_previous_for`` (at most 30 days) every notice carries the
        previous key's signatures too, so the host can switch without losing one.

        .. versionadded:: 0.2.0
        """
        check_host_id(host_id)
        if not isinstance(keep_previous_for, timedelta) or not (
            timedelta(0) <= keep_previous_for <= timedelta(days=30)
        ):
            raise InvalidInput(
                "keep_previous_for is a timedelta from 0 to 30 days", field="keep_previous_for"
            )
        return self._endpoints.rotate(host_id, keep_previous_for)

    def webhook(self, host_id: str) -> WebhookEndpoint:
        """The host's endpoint (URL, state, the ``whpk_`` public keys of its ``v1a``
        signatures; never the secret). :class:`~dualid.errors.UnknownWebhook` when it has
        none.

        .. versionadded:: 0.2.0
        """
        check_host_id(host_id)
        return self._endpoints.get(host_id)

    def webhook_deliveries(
        self, host_id: str, *, cursor: str | None = None, limit: int = 50
    ) -> DeliveryPage:
        """The host's notices, newest first, with their delivery status, attempts and
        payloads; ``next_cursor`` for older ones.

        .. versionadded:: 0.2.0
        """
        check_host_id(host_id)
        return self._endpoints.deliveries(host_id, cursor, check_count(limit, "limit", maximum=500))
