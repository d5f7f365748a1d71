"""A person's stored profile: one :class:`EventUserData`, encrypted field by field."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from operator import itemgetter
from typing import Any

from pydantic import ValidationError

from dualid import audit
from dualid._runtime import Runtime, Tx
from dualid._vault import lock_and_load_dek, open_records
from dualid.clock import ClockReading
from dualid.crypto._dek import DataKey, unwrap_dek
from dualid.crypto._fields import open_record, sealed_rows
from dualid.errors import InvalidField, InvalidInput, UnknownAgent
from dualid.models import DataField, EventUserData
from dualid.store._agents import lock_agent
from dualid.store._retry import retrying
from dualid.store._sealed import delete_fields, insert_sealed, key_and_record

from ._agents import check_agent_id

__all__ = [
    "Profiles",
    "check_against_clock",
    "profile_record",
    "profile_values",
    "to_user_data",
]

_FIELD_NAMES = [f.value for f in DataField]
# (field, dek_version, ciphertext) of a row of key_and_record
_SEALED_COLUMNS = itemgetter(3, 4, 5)
_EMPTY: dict[str, Any] = dict.fromkeys(EventUserData.model_fields)


def profile_record(agent_id: str) -> str:
    return "p:" + agent_id


def profile_values(data: EventUserData) -> dict[str, Any]:
    """The personal fields that hold a value, in their stored (JSON-ready) form."""
    out: dict[str, Any] = {}
    for name in _FIELD_NAMES:
        value = getattr(data, name)
        if value is not None:
            out[name] = value
    return out


def check_against_clock(values: Mapping[str, Any], now: ClockReading) -> None:
    """The rules of :class:`EventUserData` that need the SDK's clock, for ``values`` (as
    :func:`profile_values` gives them) about to be written at ``now``: a birthday is not
    after today (the date of ``now.latest``, so the clock's uncertainty never refuses a
    birthday that is today somewhere). The model checks everything that holds at any time;
    every write that accepts personal data (profiles, registrations' ``data=``) calls this,
    inside its transaction, so a refusal writes nothing."""
    birthday = values.get(DataField.BIRTHDAY.value)
    if birthday is not None and birthday > now.latest.date():
        raise InvalidField("birthday is in the future", field="birthday")


def to_user_data(values: dict[str, Any], **meta: Any) -> EventUserData:
    """Rebuild a model from decrypted values without re-validating them: they were
    validated before they were sealed, and AES-GCM guarantees they are unchanged."""
    return EventUserData._trusted({**_EMPTY, **values, **meta})


class Profiles:
    """The person's own profile, which registrations and grants copy fields from.

    >>> sdk.profiles.put(agent_id, EventUserData(name="Ana"))   # doctest: +SKIP
    """

    def __init__(self, rt: Runtime, agent_in: Callable[[Tx, str], str]) -> None:
        self._rt = rt
        self._agent_in = agent_in

    @retrying
    def put(self, agent_id: str, data: EventUserData) -> None:
        """Replace the profile of ``agent_id`` with the personal fields of ``data``
        (fields that are None are removed). A birthday after today, per the SDK's clock,
        is rejected."""
        check_agent_id(agent_id)
        _check_data(data)
        with self._rt.write() as tx:
            self._replace(tx, agent_id, data, self._lock(tx, agent_id))

    @retrying
    def put_user(self, user_id: str, data: EventUserData) -> None:
        """:meth:`put` for a platform userId: the agentId is looked up, or created in the
        same transaction, so a refused profile provisions nothing (the HTTP API's
        ``PUT /me/profile`` uses it).

        .. versionadded:: 0.2.0
        """
        _check_data(data)
        with self._rt.write() as tx:
            agent_id = self._agent_in(tx, user_id)
            self._replace(tx, agent_id, data, self._lock(tx, agent_id))

    def _lock(self, tx: Tx, agent_id: str) -> DataKey:
        """The person's lock first (docs/concurrency.md): concurrent writes of one profile
        apply one after the other, and one that loses to an erasure writes nothing
        (:class:`UnknownAgent`). Then the person's data key."""
        return lock_and_load_dek(tx.conn, self._rt.provider, agent_id, tx.now.time)

    def _replace(self, tx: Tx, agent_id: str, data: EventUserData, dek: DataKey) -> None:
        """Replace the whole profile (one delete, then the new rows), under the lock."""
        values = profile_values(data)
        check_against_clock(values, tx.now)
        record = profile_record(agent_id)
        delete_fields(tx.conn, record)
        insert_sealed(tx.conn, sealed_rows(dek, agent_id, record, values, tx.now.time))
        audit.append(
            tx.conn,
            tx.now,
            "profile.updated",
            subject=agent_id,
            details={"fields": sorted(values)},
        )

    @retrying
    def update(self, agent_id: str, **changes: Any) -> EventUserData:
        """Change some fields (``None`` removes one), validating the result; returns the
        new profile."""
        check_agent_id(agent_id)
        with self._rt.write() as tx:
            # Read, merge and write under the person's lock: concurrent updates of
            # different fields both land.
            dek = self._lock(tx, agent_id)
            record = profile_record(agent_id)
            current = open_records(tx.conn, {agent_id: dek}, [record]).get(record, {})
            try:
                data = EventUserData(**{**current, **changes})
            except (ValidationError, TypeError) as exc:
                fields = (
                    sorted({str(e["loc"][0]) for e in exc.errors()})
                    if isinstance(exc, ValidationError)
                    else []
                )
                raise InvalidField("invalid profile data", fields=fields) from None
            self._replace(tx, agent_id, data, dek)
            return data

    def get(self, agent_id: str) -> EventUserData | None:
        """The stored profile, or None when the person has stored nothing."""
        check_agent_id(agent_id)
        record = profile_record(agent_id)
        # One statement (one snapshot, no transaction to open): the agent's wrapped key
        # and its profile's sealed rows.
        with self._rt.store.autocommit() as conn:
            rows = key_and_record(conn, agent_id, record)
        if not rows:
            raise UnknownAgent("no such agent (unknown or erased)")
        key_id, version, wrapped = rows[0][:3]
        if rows[0][3] is None:  # the key without sealed rows (LEFT JOIN)
            return None
        dek = unwrap_dek(self._rt.provider, agent_id, key_id, version, wrapped)
        return to_user_data(open_record(dek, agent_id, record, map(_SEALED_COLUMNS, rows)))

    @retrying
    def delete(self, agent_id: str) -> None:
        """Remove every stored profile field (the agent and its registrations stay)."""
        check_agent_id(agent_id)
        with self._rt.write() as tx:
            if not lock_agent(tx.conn, agent_id):
                raise UnknownAgent("no such agent (unknown or erased)")
            removed = delete_fields(tx.conn, profile_record(agent_id))
            audit.append(
                tx.conn, tx.now, "profile.deleted", subject=agent_id, details={"rows": removed}
            )


def _check_data(data: object) -> None:
    if not isinstance(data, EventUserData):
        raise InvalidInput("data must be an EventUserData")
