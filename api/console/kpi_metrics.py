"""The dashboard's KPIs at ``/metrics``: a collector that reads the KPI read models on scrape."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import structlog
from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from projections.kpis import kpi_figures

log = structlog.get_logger("ledgerline.console.kpis")


class KpiCollector:
    """Reads the figures at each scrape (a few small aggregates), so they are never stale."""

    def __init__(self) -> None:
        self.conninfo: str | None = None

    def collect(self) -> Iterator[Metric]:
        if self.conninfo is None:
            return
        try:
            with psycopg.connect(self.conninfo, autocommit=True, connect_timeout=3) as conn:
                figures = kpi_figures(conn)
        except psycopg.Error as error:  # a scrape must not fail for want of the database
            log.warning("kpis.unavailable", error=str(error))
            return
        ratios = {
            "inventory_accuracy": "1 - absolute cycle-count variance / units counted",
            "exact_counts": "share of cycle counts that found the recorded figure",
            "fulfilment_accuracy": "share of shipped orders with nothing returned",
            "dead_letter_rate": "share of connector deliveries dead-lettered",
        }
        for name, help_text in ratios.items():
            if figures[name] is not None:
                yield GaugeMetricFamily(f"ledgerline_kpi_{name}_ratio", help_text, figures[name])
        yield GaugeMetricFamily(
            "ledgerline_kpi_oversell_rejected_orders",
            "orders refused for want of stock (oversell attempts rejected)",
            figures["rejected_orders"],
        )
        latency = GaugeMetricFamily(
            "ledgerline_kpi_sync_latency_ms",
            "event commit to connector acknowledgement, milliseconds",
            labels=["connector", "quantile"],
        )
        for row in figures["latency"]:
            latency.add_metric([row["connector"], "0.5"], row["p50_ms"])
            latency.add_metric([row["connector"], "0.99"], row["p99_ms"])
        yield latency
        units = GaugeMetricFamily(
            "ledgerline_kpi_sales_units", "units ordered", labels=["channel", "day"]
        )
        revenue = GaugeMetricFamily(
            "ledgerline_kpi_sales_revenue",
            "revenue ordered, per currency",
            labels=["channel", "day", "currency"],
        )
        for row in figures["sales"]:
            units.add_metric([row["channel"], row["day"]], row["units"])
            revenue.add_metric([row["channel"], row["day"], row["currency"]], float(row["revenue"]))
        yield units
        yield revenue


COLLECTOR = KpiCollector()
REGISTRY.register(COLLECTOR)


def bind_kpi_metrics(conninfo: str) -> None:
    """Point the collector at this process's database (the app's lifespan does)."""
    COLLECTOR.conninfo = conninfo
