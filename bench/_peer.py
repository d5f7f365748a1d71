"""The peer a team would write instead of dualid: a SQLAlchemy ORM model whose personal
columns are sqlalchemy-utils ``StringEncryptedType(..., AesGcmEngine)`` (the approach of
fides and many services), served by FastAPI with a pydantic response model.

It is a deliberately *favourable* peer: one key for everyone (no per-person data keys, so
no crypto-shredding), no consent check, no pairwise reference, no audit entry. The
benchmarks compare dualid's host view with it in-process (``bench_core``) and over HTTP in
separate server processes (``bench_http``).

``create_app()`` is a uvicorn factory: the database URL and the key come from the
environment (``DUALID_BENCH_PEER_URL``, ``DUALID_BENCH_PEER_KEY``). No ``from __future__
import annotations``: FastAPI reads the endpoint's signature, whose models are local.
"""

import os
from collections.abc import Iterable, Iterator
from typing import Annotated, Any

from sqlalchemy import ForeignKey, Integer, String, create_engine, event, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy_utils import StringEncryptedType
from sqlalchemy_utils.types.encrypted.encrypted_type import AesGcmEngine

URL_ENV = "DUALID_BENCH_PEER_URL"
KEY_ENV = "DUALID_BENCH_PEER_KEY"


def _key() -> str:
    return os.environ[KEY_ENV]


class Base(DeclarativeBase):
    pass


class PeerEvent(Base):
    __tablename__ = "peer_event"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    host: Mapped[str] = mapped_column(String(64), index=True)
    code: Mapped[str] = mapped_column(String(128), index=True)


class PeerAttendee(Base):
    """One attendee with its personal fields encrypted column by column (one key)."""

    __tablename__ = "peer_attendee"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("peer_event.id"), index=True)
    name: Mapped[str | None] = mapped_column(StringEncryptedType(String, _key, AesGcmEngine))
    phone_number: Mapped[str | None] = mapped_column(
        StringEncryptedType(String, _key, AesGcmEngine)
    )
    email: Mapped[str | None] = mapped_column(StringEncryptedType(String, _key, AesGcmEngine))


def engine(url: str) -> Engine:
    """An engine with the pragmas a team would set for SQLite (WAL, synchronous=NORMAL)."""
    eng = create_engine(url)
    if eng.dialect.name == "sqlite":

        @event.listens_for(eng, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

    return eng


def seed(url: str, host: str, code: str, people: Iterable[tuple[str, str, str]]) -> None:
    """Create the tables and one event of ``host`` with ``people`` (name, phone, email)."""
    eng = engine(url)
    Base.metadata.create_all(eng)
    with Session(eng) as session, session.begin():
        ev = PeerEvent(host=host, code=code)
        session.add(ev)
        session.flush()
        session.add_all(
            PeerAttendee(event_id=ev.id, name=n, phone_number=p, email=e) for n, p, e in people
        )
    eng.dispose()


def attendees(session: Session, host: str, code: str, limit: int | None = None) -> list[Any]:
    """The event's attendees, decrypted by the column type as the ORM loads them."""
    query = (
        select(PeerAttendee)
        .join(PeerEvent, PeerEvent.id == PeerAttendee.event_id)
        .where(PeerEvent.host == host, PeerEvent.code == code)
        .order_by(PeerAttendee.id)
    )
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def create_app() -> Any:
    """The FastAPI app of the peer: ``GET /hosts/me/events/{code}/attendees?limit=``."""
    from fastapi import Depends, FastAPI, Header
    from pydantic import BaseModel, ConfigDict
    from pydantic.alias_generators import to_camel

    eng = engine(os.environ[URL_ENV])
    sessions = sessionmaker(eng)

    class AttendeeOut(BaseModel):
        model_config = ConfigDict(
            from_attributes=True, alias_generator=to_camel, populate_by_name=True
        )
        id: int
        name: str | None
        phone_number: str | None
        email: str | None

    class PageOut(BaseModel):
        model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)
        items: list[AttendeeOut]
        next_cursor: str | None = None

    def db() -> Iterator[Session]:
        with sessions() as session:
            yield session

    def caller(x_host_id: str = Header()) -> str:
        return x_host_id

    app = FastAPI()

    @app.get("/hosts/me/events/{code}/attendees", response_model=PageOut)
    def list_attendees(
        code: str,
        host: Annotated[str, Depends(caller)],
        session: Annotated[Session, Depends(db)],
        limit: int = 100,
    ) -> PageOut:
        rows = attendees(session, host, code, limit)
        return PageOut(items=[AttendeeOut.model_validate(r) for r in rows])

    return app
