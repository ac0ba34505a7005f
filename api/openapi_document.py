"""The OpenAPI document as served: errors described as they are sent, and how to authenticate.

Litestar documents a handler's 400 as its own ``{"status_code", "detail"}`` JSON, but every
error leaves as an RFC 9457 problem (`api.problems`). The JSON document is rewritten once,
when first asked for, so that each operation's 4XX answers are ``application/problem+json``
with the problem schema, and the bearer key requirement is stated.
"""

from __future__ import annotations

import copy
from typing import Any

from litestar import Request
from litestar.openapi.plugins import (
    JsonRenderPlugin,
    OpenAPIRenderPlugin,
    RedocRenderPlugin,
    SwaggerRenderPlugin,
)

from api.problems import PROBLEM_JSON

_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options"})
_PUBLIC = ("/health/",)
# Readiness answers 503 with its checks when a dependency is down: that is its job.
_UNAVAILABLE = {"/health/ready"}
# Prometheus' text format, which Litestar's metrics controller documents as JSON.
_PLAIN_TEXT = {"/metrics"}

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "urn:ledgerline:problem:<slug>"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "request_id": {"type": "string"},
        "errors": {"type": "array"},
    },
    "additionalProperties": True,
}


def document_problems(document: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``document`` whose error answers are described as problem documents."""
    described = copy.deepcopy(document)
    components = described.setdefault("components", {})
    components.setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    components.setdefault("responses", {})["Problem"] = {
        "description": "the request was refused; nothing was written",
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    components.setdefault("securitySchemes", {})["apiKey"] = {
        "type": "http",
        "scheme": "bearer",
        "description": "an API key: Authorization: Bearer <key>",
    }
    described["security"] = [{"apiKey": []}]
    for path, item in described.get("paths", {}).items():
        for method, operation in item.items():
            if method not in _METHODS:
                continue
            responses = operation.setdefault("responses", {})
            for status in [s for s in responses if s.startswith("4")]:
                del responses[status]
            responses["4XX"] = {"$ref": "#/components/responses/Problem"}
            if path.startswith(_PUBLIC):
                operation["security"] = []
            if path in _PLAIN_TEXT:
                responses["200"]["content"] = {"text/plain": {"schema": {"type": "string"}}}
            if path in _UNAVAILABLE:
                responses["503"] = {
                    "description": "a dependency is unreachable or a read model lags",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
    return described


class ProblemDocumentedJson(JsonRenderPlugin):
    """``openapi.json``, rewritten by `document_problems` on first request and then kept."""

    _rendered: bytes | None = None

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        if self._rendered is None:
            self._rendered = self.render_json(request, document_problems(openapi_schema))
        return self._rendered


def render_plugins() -> list[OpenAPIRenderPlugin]:
    """The document as JSON, ReDoc at the root (as before) and Swagger UI; both read the JSON."""
    return [
        ProblemDocumentedJson(),
        RedocRenderPlugin(path=["/", "/redoc"]),
        SwaggerRenderPlugin(),
    ]
