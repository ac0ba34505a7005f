"""The index that finds a command's events in every log by correlation id.

The correlation id lives in the ``_meta`` object inside each stored state (decision 0002),
so each log gets an expression index over an IMMUTABLE function that reads it. The events
recorder creates both with its tables (``LedgerRecorder``), so every application, the
benchmarks included, writes through the index it is served with.
"""

from __future__ import annotations

from psycopg.sql import SQL, Composed, Identifier, Literal

FUNCTION = "ledgerline_correlation_v1"

# A state that is not JSON (written around the recorder) indexes as NULL rather than
# refusing the write: stock never stops because of tampering, and `audit verify` names it.
_CREATE = """
CREATE FUNCTION {function}(state bytea) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $fn$
BEGIN
    RETURN convert_from(state, 'UTF8')::jsonb -> '_meta' ->> 'correlation_id';
EXCEPTION WHEN others THEN
    RETURN NULL;
END $fn$
"""


def correlation_index(log: str) -> str:
    return f"{log}_correlation_idx"


def create_statements(schema: str, events_table: str) -> list[Composed]:
    """The function (only when missing: CREATE OR REPLACE from processes starting together
    fails with "tuple concurrently updated") and the log's index."""
    log = events_table.removesuffix("_events")
    function = Identifier(schema, FUNCTION)
    return [
        SQL(
            "DO $do$ BEGIN IF to_regprocedure({signature}) IS NULL THEN {create}; END IF; END $do$"
        ).format(
            signature=Literal(f"{schema}.{FUNCTION}(bytea)"),
            create=SQL(_CREATE).format(function=function),
        ),
        SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({}(state))").format(
            Identifier(correlation_index(log)), Identifier(schema, events_table), function
        ),
    ]
