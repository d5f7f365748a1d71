"""What every command shares: the ``--db`` and ``--batch`` options, opening stores, errors,
progress, printing signing keys."""

from __future__ import annotations

import errno
import functools
import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from dualid.errors import DualIdError, MissingKeyError, SchemaOutOfDate, StoreError
from dualid.integration import KEYS_ENV
from dualid.store import DEFAULT_URL, Store, current, head

if TYPE_CHECKING:
    from dualid.crypto import SigningKey
    from dualid.sdk import DualId

__all__ = [
    "DB_ENV",
    "EXIT_ERROR",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "KEYS_ENV",
    "DbOption",
    "KeysOption",
    "batch_option",
    "echo_signing_keys",
    "err",
    "fail",
    "handle_errors",
    "open_sdk",
    "open_sdk_with_progress",
    "open_store",
    "out",
    "progress",
    "read_text",
]

DB_ENV = "DUALID_DATABASE_URL"
EXIT_FAILED = 1  # the command ran and its check failed
EXIT_ERROR = 2  # the command could not run (usage, input, configuration, database)
EXIT_INTERRUPTED = 130

DbOption = Annotated[
    str,
    typer.Option(
        "--db",
        envvar=DB_ENV,
        metavar="URL",
        help=f"The dualid database (env {DB_ENV}).",
        show_default=True,
    ),
]

KeysOption = Annotated[
    str | None,
    typer.Option(
        "--keys",
        metavar="URI",
        help=(
            "The key provider: aws-kms:<key id or ARN>, local:<keys>, local:file:<path>, "
            f"or a plugin's scheme (default: env {KEYS_ENV}, then DUALID_MASTER_KEY, then "
            "the key file beside a SQLite database). See docs/keys.md."
        ),
        show_default=False,
    ),
]


def batch_option(what: str) -> Any:
    """The ``--batch`` option of a command that works one batch per transaction (1 to
    50,000 ``what``): ``batch: Annotated[int, batch_option("Keys re-wrapped")] = 500``."""
    return typer.Option(min=1, max=50_000, help=f"{what} per transaction.")


P = ParamSpec("P")
R = TypeVar("R")


def out() -> Console:
    # Built per call: the streams may have been swapped (tests, redirection). Redirected
    # output (logs, pipes) gets a width that keeps tables readable instead of 80 columns.
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=120)
    return console


def err() -> Console:
    return Console(stderr=True, highlight=False)


def fail(message: str, code: int = EXIT_ERROR) -> typer.Exit:
    """Print the one-line error and return the Exit to raise."""
    typer.echo(f"dualid: error: {message}", err=True)
    return typer.Exit(code)


def read_text(path: Path, what: str) -> str:
    """The UTF-8 text of the file ``what`` given on the command line; an unreadable or
    non-UTF-8 file is one line on stderr and exit 2, not a traceback."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
        raise fail(f"cannot read the {what} {path}: {reason}") from None


def _os_message(exc: OSError) -> str:
    code = errno.errorcode.get(exc.errno or 0, "OS_ERROR")
    where = f": {exc.filename}" if exc.filename else ""
    return f"{exc.strerror or type(exc).__name__}{where} [{code}]"


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn the errors an operator can act on into one line on stderr and exit 2.

    DualIdError messages never hold personal data or agentIds (their contract), so they
    are printed as they are, with their stable code."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except DualIdError as exc:
            raise fail(f"{exc.message} [{exc.code}]") from None
        except OSError as exc:
            raise fail(_os_message(exc)) from None
        except KeyboardInterrupt:
            typer.echo("dualid: interrupted", err=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None

    return wrapper


def _missing_sqlite(store: Store) -> Path | None:
    path = store.sqlite_path
    return path if path is not None and not path.exists() else None


@contextmanager
def open_store(url: str, *, must_exist: bool = True) -> Iterator[Store]:
    """A :class:`Store` for ``url``. With ``must_exist`` a SQLite file that is not there
    is an error rather than a new empty database (a typo must not create files)."""
    store = Store(url or DEFAULT_URL)
    try:
        if must_exist and (missing := _missing_sqlite(store)) is not None:
            raise StoreError(f"no database at {missing}")
        yield store
    finally:
        store.dispose()


def open_sdk(
    url: str,
    *,
    keys: str | None = None,
    create: bool = False,
    webhooks_allow_private: bool = False,
) -> DualId:
    """Open the SDK on ``url`` with the key provider ``keys`` names (a URI; None: what
    ``DualId.open`` finds: ``DUALID_KEYS``, ``DUALID_MASTER_KEY``, the key file).
    ``create`` (migrate-ids): an empty or missing store is created and migrated, with a
    key file beside a new SQLite file when no key is configured. Otherwise the store
    must exist at this version's schema, and a missing key is an error (never a new key
    that cannot read the data)."""
    from dualid.crypto import ENV_MASTER_KEY, KeyProvider, LocalKeyProvider
    from dualid.integration import open_key_provider
    from dualid.sdk import DualId

    url = url or DEFAULT_URL
    provider: KeyProvider | None = open_key_provider(keys) if keys is not None else None
    if create:
        return DualId.open(url, keys=provider, webhooks_allow_private=webhooks_allow_private)
    configured = provider is not None or any(
        os.environ.get(name, "").strip() for name in (ENV_MASTER_KEY, KEYS_ENV)
    )
    with open_store(url) as store:
        at = current(store)
        if at != head():
            raise SchemaOutOfDate(
                "the database is not at this version's schema "
                f"({at or 'empty'}, expected {head()}); run `dualid db upgrade`"
            )
        if not configured and store.sqlite_path is not None:
            key_file = store.sqlite_path.with_name(store.sqlite_path.name + ".key")
            if not key_file.exists():
                raise MissingKeyError(
                    f"no master key: pass --keys, set {KEYS_ENV} or {ENV_MASTER_KEY}, or put "
                    f"the key file {key_file.name} beside the database"
                )
            provider = LocalKeyProvider.from_file(key_file, create=False)
    return DualId.open(
        url, keys=provider, migrate=False, webhooks_allow_private=webhooks_allow_private
    )


class _RateColumn(ProgressColumn):
    """Items per second, in the command's unit."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        if speed is None:
            return Text(f"- {self.unit}/s", style="progress.data.speed")
        return Text(f"{speed:,.0f} {self.unit}/s", style="progress.data.speed")


class _LineProgress:
    """Progress for logs (stderr is not a terminal): one line per tenth of the work."""

    def __init__(self, label: str, unit: str) -> None:
        self.label = label
        self.unit = unit
        self.started = time.monotonic()
        self.next_tenth = 1

    def __call__(self, done: int, total: int) -> None:
        if total <= 0 or done * 10 < self.next_tenth * total:
            return
        while self.next_tenth * total <= done * 10:
            self.next_tenth += 1
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = done / elapsed
        eta = (total - done) / rate if rate > 0 and done < total else 0.0
        typer.echo(
            f"dualid: {self.label}: {done:,}/{total:,} {self.unit} "
            f"({rate:,.0f} {self.unit}/s, eta {eta:,.0f} s)",
            err=True,
        )


@contextmanager
def progress(
    label: str, unit: str, *, enabled: bool = True
) -> Iterator[Callable[[int, int], None]]:
    """A ``callback(done, total)`` that drives a rich progress bar on stderr (rate and
    ETA), or, when stderr is not a terminal, a line per tenth of the work."""
    console = err()
    if not enabled:
        yield lambda done, total: None
        return
    if not console.is_terminal:
        yield _LineProgress(label, unit)
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        MofNCompleteColumn(),
        _RateColumn(unit),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=max(total, done))

        yield update


@contextmanager
def open_sdk_with_progress(
    url: str, keys: str | None, label: str, unit: str
) -> Iterator[tuple[DualId, Callable[[int, int], None]]]:
    """:func:`open_sdk` and a :func:`progress` callback for a long batched run, both
    closed at the end of the block."""
    with open_sdk(url, keys=keys) as sdk, progress(label, unit) as update:
        yield sdk, update


def echo_signing_keys(signing_keys: Iterable[SigningKey], *, pem: bool = False) -> None:
    """One line per signing key: ``<purpose>: generation N, key id ID``; with ``pem``, the
    line as a comment with the key's state (``# generation N, key id ID, current`` or
    ``retired <when>``) and then its PEM, which ``--public-key`` reads back."""
    for key in signing_keys:
        if not pem:
            typer.echo(f"{key.purpose}: generation {key.generation}, key id {key.key_id}")
            continue
        state = "current" if key.retired_at is None else f"retired {key.retired_at.isoformat()}"
        typer.echo(f"# generation {key.generation}, key id {key.key_id}, {state}")
        typer.echo(key.public_key_pem.rstrip())
