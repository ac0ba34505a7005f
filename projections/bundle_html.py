"""A dispute bundle as a readable HTML page (the JSON document is what verifies)."""

from __future__ import annotations

import html
import json
from typing import Any


def render_html(bundle: dict[str, Any]) -> str:
    """A readable page of a bundle (the JSON document is what verifies)."""
    e = html.escape
    subject = bundle["subject"]
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{e(str(value))}</td>"
            for value in (
                record["log"],
                record["position"],
                record["envelope"]["type"],
                record["envelope"]["stream_type"],
                record["version"],
                record["envelope"]["occurred_at"],
                record["envelope"]["actor"],
                record["envelope"]["correlation_id"],
                (record["hash"] or "")[:16],
            )
        )
        + "</tr>"
        for record in bundle["events"]
    )
    proofs = "".join(
        f"<li>{e(log)}: chain of {len(proof['chain'])} events to "
        + (
            f"checkpoint at position {proof['checkpoint']['position']}, signed "
            f"{e(proof['checkpoint']['time'])}"
            if proof["checkpoint"]
            else "<b>no signed checkpoint yet</b>"
        )
        + "</li>"
        for log, proof in bundle["proofs"].items()
    )
    sections = "".join(
        f"<h2>{e(name.replace('_', ' '))}</h2><pre>{e(json.dumps(value, indent=2))}</pre>"
        for name, value in bundle["evidence"].items()
    )
    title = f"Dispute bundle: {subject['kind']} {subject['channel']}/{subject['number']}"
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title)}</title>"
        "<style>body{font-family:sans-serif}td,th{border:1px solid #ccc;padding:2px 6px}"
        "table{border-collapse:collapse}pre{background:#f6f6f6;padding:8px}</style></head>"
        f"<body><h1>{e(title)}</h1><p>{e(subject['kind'])} id {e(subject['id'])}; made "
        f"{e(bundle['created_at'])}; digest <code>{e(bundle['digest'])}</code>; public key "
        f"<code>{e(str(bundle['public_key']))}</code></p>"
        "<p>Verify the JSON document with <code>ledgerline audit verify-bundle FILE "
        "--public-key KEY</code>.</p>"
        f"<h2>Proofs</h2><ul>{proofs}</ul>"
        "<h2>Events</h2><table><tr><th>log</th><th>position</th><th>type</th><th>stream</th>"
        "<th>version</th><th>occurred</th><th>actor</th><th>correlation</th><th>hash</th></tr>"
        f"{rows}</table>{sections}</body></html>"
    )
