"""Find every wall-clock read in a Python codebase (``dualid clock-audit``).

Mixed timestamp sources are how events end up out of order: one service stamps with the
system clock (``datetime``'s ``now``), another with dualid's clock. This scanner parses
each file (it does not grep), follows the imports, and reports every call of, or reference to:

``datetime.datetime.now``, ``datetime.datetime.utcnow``, ``datetime.datetime.today``,
``datetime.date.today``, ``time.time`` and ``time.time_ns``

however they are imported (``import datetime as dt``, ``from datetime import datetime as
DT``, ``import time as t``, ``from time import time``, ``from datetime import *``) or looked
up (``getattr(dt.datetime, "now")``). A reference without a call counts too:
``Field(default_factory=datetime.utcnow)`` reads the clock on every row. The project's own
P8 test runs this scanner over ``dualid`` itself. Each finding gets a priority guessed from
its path and the names of the enclosing functions and classes: ``payments``,
``queue/reservation``, ``audit/admin``, ``analytics`` or ``other``, in that order of urgency.

>>> findings = scan_source("from time import time as now\\nstamp = now()\\n", "pay/x.py")
>>> [(f.line, f.call, f.priority.value) for f in findings]
[(2, 'time.time', 'payments')]
"""

from __future__ import annotations

import ast
import enum
import fnmatch
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "WALL_CLOCK_READS",
    "AuditResult",
    "Finding",
    "Priority",
    "scan",
    "scan_source",
]

#: The fully qualified callables that read the wall clock.
WALL_CLOCK_READS = frozenset(
    {
        "datetime.datetime.now",
        "datetime.datetime.utcnow",
        "datetime.datetime.today",
        "datetime.date.today",
        "time.time",
        "time.time_ns",
    }
)
# What ``from <module> import *`` binds that matters here.
_STAR_EXPORTS = {"datetime": ("datetime", "date"), "time": ("time", "time_ns")}
_SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".venv",
        "venv",
        "__pycache__",
        "node_modules",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        "build",
        "dist",
        "site-packages",
    }
)


class Priority(enum.StrEnum):
    """How urgent a finding probably is, most urgent first."""

    PAYMENTS = "payments"
    QUEUE_RESERVATION = "queue/reservation"
    AUDIT_ADMIN = "audit/admin"
    ANALYTICS = "analytics"
    OTHER = "other"

    @property
    def rank(self) -> int:
        return list(Priority).index(self)


# Words (whole tokens of a path or identifier, after splitting snake_case and camelCase)
# that point at a priority. Prefixes end with "*".
_KEYWORDS: dict[Priority, frozenset[str]] = {
    Priority.PAYMENTS: frozenset(
        {
            "pay",
            "pays",
            "paid",
            "payment*",
            "payout*",
            "payable*",
            "billing",
            "bill",
            "bills",
            "invoice*",
            "charge*",
            "refund*",
            "checkout*",
            "stripe",
            "paypal",
            "price*",
            "pricing",
            "subscription*",
            "wallet*",
            "ledger*",
            "settlement*",
            "fee",
            "fees",
            "tax",
            "taxes",
            "money",
            "card",
            "cards",
        }
    ),
    Priority.QUEUE_RESERVATION: frozenset(
        {
            "queue*",
            "reservation*",
            "reserve",
            "reserves",
            "booking*",
            "book",
            "books",
            "waitlist*",
            "slot",
            "slots",
            "seat",
            "seats",
            "seating",
            "ticket*",
            "schedul*",
            "appointment*",
            "rsvp*",
            "attendee*",
            "registration*",
            "checkin",
            "checkins",
            "capacity",
            "lottery",
        }
    ),
    Priority.AUDIT_ADMIN: frozenset(
        {
            "audit*",
            "admin*",
            "consent*",
            "compliance",
            "gdpr",
            "security",
            "auth",
            "authn",
            "authz",
            "authentication",
            "authorization",
            "authorize*",
            "permission*",
            "moderation",
            "backoffice",
            "support",
            "erase",
            "erasure",
            "retention",
        }
    ),
    Priority.ANALYTICS: frozenset(
        {
            "analytic*",
            "metric*",
            "stats",
            "statistics",
            "telemetry",
            "tracking",
            "tracker*",
            "dashboard*",
            "report*",
            "insight*",
            "kpi*",
            "funnel*",
            "cohort*",
            "bi",
            "warehouse",
            "etl",
        }
    ),
}
_TOKEN = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")


def _tokens(text: str) -> list[str]:
    return [t.lower() for t in _TOKEN.findall(text)]


def _matches(token: str, words: frozenset[str]) -> bool:
    if token in words:
        return True
    return any(w.endswith("*") and token.startswith(w[:-1]) for w in words)


def guess_priority(path: str, scope: Sequence[str] = ()) -> Priority:
    """The most urgent priority any token of ``path`` or ``scope`` (enclosing function
    and class names) points at; ``other`` when none does."""
    tokens = _tokens(path.replace("\\", "/")) + [t for name in scope for t in _tokens(name)]
    for priority in Priority:
        words = _KEYWORDS.get(priority)
        if words and any(_matches(t, words) for t in tokens):
            return priority
    return Priority.OTHER


@dataclass(frozen=True)
class Finding:
    """One wall-clock read: where, what, and how urgent it probably is."""

    path: str
    line: int
    column: int
    call: str
    """The qualified callable, e.g. ``datetime.datetime.now``."""
    text: str
    """The expression as written, e.g. ``dt.now``."""
    kind: str
    """``call``, or ``reference`` when the callable is passed without being called."""
    scope: str
    """Enclosing ``Class.function`` names, or ``<module>``."""
    priority: Priority

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "call": self.call,
            "text": self.text,
            "kind": self.kind,
            "scope": self.scope,
            "priority": self.priority.value,
        }


@dataclass
class AuditResult:
    """Findings (most urgent first), files scanned, and files that could not be parsed."""

    findings: list[Finding] = field(default_factory=list)
    files: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        counts = {p.value: 0 for p in Priority}
        for f in self.findings:
            counts[f.priority.value] += 1
        return {
            "files": self.files,
            "findings": [f.to_dict() for f in self.findings],
            "counts": counts,
            "errors": [{"path": p, "error": e} for p, e in self.errors],
        }


class _Visitor(ast.NodeVisitor):
    def __init__(self, path: str, priority_path: str) -> None:
        self.path = path
        self.priority_path = priority_path
        self.bindings: dict[str, str] = {}
        self.scope: list[str] = []
        self.findings: list[Finding] = []
        self._callees: set[int] = set()

    # Imports bind names to qualified names; they are collected in a first pass so that
    # a function body sees an import written below it (module order does not matter).
    def collect_imports(self, tree: ast.AST) -> None:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        self.bindings[alias.asname] = alias.name
                    else:
                        top = alias.name.split(".")[0]
                        self.bindings[top] = top
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    if alias.name == "*":
                        for name in _STAR_EXPORTS.get(node.module, ()):
                            self.bindings[name] = f"{node.module}.{name}"
                    else:
                        self.bindings[alias.asname or alias.name] = f"{node.module}.{alias.name}"

    def qualified(self, node: ast.expr) -> str | None:
        if isinstance(node, ast.Name):
            return self.bindings.get(node.id)
        if isinstance(node, ast.Attribute):
            base = self.qualified(node.value)
            return None if base is None else f"{base}.{node.attr}"
        return None

    def _scoped(self, node: ast.AST, name: str) -> None:
        self.scope.append(name)
        self.generic_visit(node)
        self.scope.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        # Decorators and defaults are evaluated in the enclosing scope.
        for expr in [*node.decorator_list, *node.args.defaults, *node.args.kw_defaults]:
            if expr is not None:
                self.visit(expr)
        self.scope.append(node.name)
        for stmt in node.body:
            self.visit(stmt)
        self.scope.pop()

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._scoped(node, node.name)

    def visit_Call(self, node: ast.Call) -> None:
        self._callees.add(id(node.func))
        if name := self._getattr_read(node):
            self._report(node, name)
        self.generic_visit(node)

    def _getattr_read(self, node: ast.Call) -> str | None:
        """``getattr(datetime, "now")`` (with or without a default) spells the read with a
        string; the qualified name it looks up, when that is a literal."""
        builtin = (
            isinstance(node.func, ast.Name)
            and node.func.id == "getattr"
            and "getattr" not in self.bindings  # not an import of that name
        ) or self.qualified(node.func) == "builtins.getattr"
        if not (
            builtin
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
        ):
            return None
        base = self.qualified(node.args[0])
        name = None if base is None else f"{base}.{node.args[1].value}"
        return name if name in WALL_CLOCK_READS else None

    def _check(self, node: ast.Name | ast.Attribute) -> bool:
        name = self.qualified(node)
        if name not in WALL_CLOCK_READS:
            return False
        self._report(node, name)
        return True

    def _report(self, node: ast.expr, name: str) -> None:
        scope = list(self.scope)
        self.findings.append(
            Finding(
                path=self.path,
                line=node.lineno,
                column=node.col_offset + 1,
                call=name,
                text=ast.unparse(node),
                kind="call" if id(node) in self._callees else "reference",
                scope=".".join(scope) or "<module>",
                priority=guess_priority(self.priority_path, scope),
            )
        )

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if not self._check(node):
            self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self._check(node)


def scan_source(
    source: str, path: str = "<string>", *, priority_path: str | None = None
) -> list[Finding]:
    """Findings in one module's source, in source order. The priority is guessed from
    ``priority_path`` (default ``path``): the scanner passes the path relative to the
    scanned root, so the folders above it (``~/audit-service/``) do not colour every
    finding. Raises ``SyntaxError``."""
    tree = ast.parse(source, filename=path)
    visitor = _Visitor(path, path if priority_path is None else priority_path)
    visitor.collect_imports(tree)
    visitor.visit(tree)
    return sorted(visitor.findings, key=lambda f: (f.line, f.column))


def _display(path: Path) -> str:
    try:
        rel = path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return path.as_posix()
    return rel.as_posix()


def _allowed(file: Path, shown: str, relative: str, allow: Sequence[str]) -> bool:
    absolute = file.resolve().as_posix()
    return any(
        fnmatch.fnmatchcase(shown, g)
        or fnmatch.fnmatchcase(relative, g)
        or fnmatch.fnmatchcase(absolute, g if g.startswith("/") else "*/" + g)
        for g in allow
    )


def _python_files(root: Path) -> Iterator[Path]:
    if root.is_file():
        yield root
        return
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(
            d for d in dirnames if d not in _SKIP_DIRS and not d.endswith(".egg-info")
        )
        for name in sorted(filenames):
            if name.endswith(".py"):
                yield Path(dirpath) / name


def scan(paths: Iterable[str | os.PathLike[str]], *, allow: Sequence[str] = ()) -> AuditResult:
    """Scan files and directories (recursively, ``*.py``; virtualenvs, caches and build
    folders skipped). ``allow``: glob patterns (``fnmatch``; ``*`` crosses ``/``) of paths
    to exempt, matched against the path as displayed (relative to the current directory
    when under it), relative to the scanned root, and as a tail of the absolute path, e.g.
    ``src/dualid/clock/*``.

    Raises ``FileNotFoundError`` for a path that does not exist.
    """
    result = AuditResult()
    for raw in paths:
        root = Path(raw)
        if not root.exists():
            raise FileNotFoundError(2, "No such file or directory", str(raw))
        for file in _python_files(root):
            shown = _display(file)
            relative = file.relative_to(root).as_posix() if root.is_dir() else shown
            if _allowed(file, shown, relative, allow):
                continue
            result.files += 1
            try:
                source = file.read_text(encoding="utf-8")
                result.findings.extend(scan_source(source, shown, priority_path=relative))
            except (SyntaxError, UnicodeDecodeError, ValueError) as exc:
                result.errors.append((shown, f"{type(exc).__name__}: {exc}"))
    result.findings.sort(key=lambda f: (f.priority.rank, f.path, f.line, f.column))
    return result
