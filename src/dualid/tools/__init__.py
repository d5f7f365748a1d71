"""Operator tools behind the ``dualid`` command, usable from Python too:
:mod:`dualid.tools.migrate_ids` (move existing userId columns to agentIds) and
:mod:`dualid.tools.clock_audit` (find wall-clock reads outside ``dualid/clock/``, P8)."""
