"""Connector configuration: a TOML file with one ``[connectors.<name>]`` table per connector.

```toml
[connectors.shop-hooks]
kind = "webhook"                  # webhook | channel_feed | replenishment
url = "https://shop.example/hooks/ledgerline"
secret_env = "SHOP_HOOK_SECRET"   # or secret = "..." (keep the file private then)
subjects = ["ledgerline.events.inventory.>"]
start = "beginning"               # new | beginning | seq:N | time:RFC3339, on first run
max_deliver = 8
backoff = [1, 5, 30, 120, 600]    # seconds before attempt 2, 3, ...; the last repeats

[connectors.feeds]
kind = "channel_feed"
directory = "/var/lib/ledgerline/feeds"

[connectors.reorders]
kind = "replenishment"
url = "https://erp.example/replenishment"
secret_env = "ERP_HOOK_SECRET"
```
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infrastructure.connectors.base import ALL_EVENTS, Connector
from infrastructure.connectors.channel_feed import ChannelFeedConnector, PriceSource
from infrastructure.connectors.replenishment import ReplenishmentConnector
from infrastructure.connectors.runtime import Options
from infrastructure.connectors.start import Start
from infrastructure.connectors.webhook import WebhookConnector

# A JetStream consumer name and a subject token: no dots, spaces or wildcards.
NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class ConnectorSpec:
    connector: Connector
    options: Options
    start: Start


def _secret(table: dict[str, Any], name: str) -> str:
    if "secret_env" in table:
        value = os.environ.get(str(table["secret_env"]), "")
        if not value:
            raise ConfigError(f"connector {name}: ${table['secret_env']} is not set")
        return value
    return str(table.get("secret", ""))


def build(name: str, table: dict[str, Any], base: Path, prices: PriceSource) -> ConnectorSpec:
    if not NAME.fullmatch(name):
        raise ConfigError(f"connector name {name!r}: use 1-64 letters, digits, '_' or '-'")
    kind = table.get("kind")
    connector: Connector
    if kind == "webhook":
        connector = WebhookConnector(
            name,
            url=str(table["url"]),
            secret=_secret(table, name),
            subjects=tuple(table.get("subjects", ALL_EVENTS)),
            timeout=float(table.get("timeout", 10.0)),
        )
    elif kind == "channel_feed":
        directory = base / str(table.get("directory", f"feeds/{name}"))
        connector = ChannelFeedConnector(name, directory, prices)
    elif kind == "replenishment":
        connector = ReplenishmentConnector(
            name,
            url=table.get("url"),
            secret=_secret(table, name),
            timeout=float(table.get("timeout", 10.0)),
        )
    else:
        raise ConfigError(f"connector {name}: unknown kind {kind!r}")
    defaults = Options()
    options = Options(
        max_deliver=int(table.get("max_deliver", defaults.max_deliver)),
        backoff=tuple(float(s) for s in table.get("backoff", defaults.backoff)),
        ack_wait=float(table.get("ack_wait", defaults.ack_wait)),
    )
    return ConnectorSpec(connector, options, Start.parse(str(table.get("start", "beginning"))))


def load(path: Path, name: str, prices: PriceSource) -> ConnectorSpec:
    """The connector ``name`` from the file at ``path`` (relative paths: from its folder)."""
    try:
        document = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"no connector configuration at {path}") from None
    tables = document.get("connectors", {})
    if name not in tables:
        known = ", ".join(sorted(tables)) or "none"
        raise ConfigError(f"no connector {name!r} in {path} (configured: {known})")
    return build(name, tables[name], path.resolve().parent, prices)
