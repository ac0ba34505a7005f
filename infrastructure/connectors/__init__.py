"""Connector workers: durable JetStream consumers that hand public events to a handler.

A connector author writes a :class:`~infrastructure.connectors.base.Connector` (or just an
async function, see :class:`~infrastructure.connectors.base.FunctionConnector`); the
:class:`~infrastructure.connectors.runtime.ConnectorRunner` does the rest: ordering, retries,
dead letters, deduplication by event id, backfill from PostgreSQL and graceful shutdown.
"""
