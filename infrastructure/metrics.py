"""Prometheus metrics of our own (HTTP metrics come from Litestar's Prometheus plugin)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

COMMANDS = Counter(
    "ledgerline_commands_total",
    "Commands handled, by command and outcome",
    ["command", "outcome"],
)
PROJECTION_POSITION = Gauge(
    "ledgerline_projection_position",
    "Last log position applied by a projection",
    ["projection"],
)
PROJECTION_LAG = Gauge(
    "ledgerline_projection_lag_events",
    "Events committed but not yet applied by a projection",
    ["projection"],
)
AUTH_REFUSALS = Counter(
    "ledgerline_auth_refusals_total",
    "Requests refused by authentication or authorisation, by reason",
    ["reason"],
)
PROJECTION_FAILURES = Counter(
    "ledgerline_projection_failures_total",
    "Batches a projection failed to apply (rolled back and retried)",
    ["projection"],
)
RELAY_PUBLISHED = Counter(
    "ledgerline_relay_published_total", "Events published to JetStream and acked", ["log"]
)
RELAY_FAILURES = Counter(
    "ledgerline_relay_failures_total", "Relay sessions that failed and were retried"
)
CONNECTOR_HANDLED = Counter(
    "ledgerline_connector_handled_total",
    "Events a connector handled and committed, by source (jetstream or backfill)",
    ["connector", "source"],
)
CONNECTOR_SKIPPED = Counter(
    "ledgerline_connector_skipped_total",
    "Deliveries skipped because the connector had already handled the event",
    ["connector"],
)
CONNECTOR_FAILED = Counter(
    "ledgerline_connector_failed_total", "Handler attempts that failed", ["connector"]
)
CONNECTOR_DEAD_LETTERED = Counter(
    "ledgerline_connector_dead_lettered_total",
    "Events a connector gave up on and sent to the dead letters",
    ["connector"],
)
CONNECTOR_LAG = Gauge(
    "ledgerline_connector_lag_events",
    "Events in JetStream not yet delivered to the connector",
    ["connector"],
)
WORKER_LEADER = Gauge(
    "ledgerline_worker_leader",
    "1 while this process holds the worker's advisory lock (is its active instance)",
    ["worker"],
)
