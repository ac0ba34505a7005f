"""Who may do what: API keys and the roles they carry.

A key is shown once, when it is made; the store keeps only a hash of its secret. Creating
and revoking keys are events like any other, so who could do what, and when, is history.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import Conflict, InvalidValue
from domain.identity import check_code, check_text, stream_id

MAX_NAME = 200
MAX_ROLES = 20
FIXED_ROLES = ("admin", "operator", "auditor")
SCOPED_ROLES = ("channel", "connector")


@dataclass(frozen=True, order=True)
class Role:
    """``admin``, ``operator``, ``auditor``, ``channel:<code>`` or ``connector:<name>``."""

    kind: str
    scope: str | None = None

    @classmethod
    def parse(cls, text: str) -> Role:
        if not isinstance(text, str):
            raise InvalidValue(f"a role is text, got {text!r}", field="roles")
        kind, _, scope = text.partition(":")
        if kind in FIXED_ROLES and not scope and ":" not in text:
            return cls(kind)
        if kind in SCOPED_ROLES and scope:
            check_code(scope, "roles")
            return cls(kind, scope)
        raise InvalidValue(
            f"unknown role {text!r}: use admin, operator, auditor, channel:<code> "
            "or connector:<name>",
            field="roles",
        )

    def __str__(self) -> str:
        return self.kind if self.scope is None else f"{self.kind}:{self.scope}"


def parse_roles(texts: list[str]) -> list[str]:
    """Validated, de-duplicated and sorted role names; a key has at least one."""
    if not texts or len(texts) > MAX_ROLES:
        raise InvalidValue(f"a key carries 1-{MAX_ROLES} roles", field="roles")
    roles = sorted({Role.parse(text) for text in texts})
    channels = [role for role in roles if role.kind == "channel"]
    if channels and len(roles) > 1:
        # A channel key speaks for exactly one channel; mixing would blur whose data it is.
        raise InvalidValue("a channel key carries that one role only", field="roles")
    return [str(role) for role in roles]


class KeyRevoked(Conflict):
    code = "key-revoked"
    title = "The key is already revoked"


class ApiKey(Aggregate):
    """An API key: its public id, name, roles, optional expiry and the hash of its secret."""

    @staticmethod
    def create_id(key_id: str, **_: Any) -> UUID:
        return stream_id("apikey", key_id)

    @classmethod
    def issue(
        cls,
        key_id: str,
        name: str,
        roles: list[str],
        secret_hash: str,
        now: datetime,
        expires_at: datetime | None = None,
    ) -> ApiKey:
        check_code(key_id, "key_id")
        check_text(name, "name", MAX_NAME)
        if expires_at is not None and expires_at <= now:
            raise InvalidValue("expires_at must be in the future", field="expires_at")
        if len(secret_hash) != 64:
            raise InvalidValue("secret_hash must be a SHA-256 hex digest", field="secret_hash")
        return cls(
            key_id=key_id,
            name=name,
            roles=parse_roles(roles),
            secret_hash=secret_hash,
            expires_at=expires_at,
        )

    @event("Issued")
    def __init__(
        self,
        key_id: str,
        name: str,
        roles: list[str],
        secret_hash: str,
        expires_at: datetime | None,
    ) -> None:
        self.key_id = key_id
        self.name = name
        self.roles = list(roles)
        self.secret_hash = secret_hash
        self.expires_at = expires_at
        self.revoked_at: datetime | None = None

    def revoke(self, now: datetime, reason: str = "") -> None:
        if self.revoked_at is not None:
            raise KeyRevoked(f"key {self.key_id} was revoked already", key_id=self.key_id)
        check_text(reason, "reason", MAX_NAME, allow_empty=True)
        self._revoke(revoked_at=now, reason=reason)

    @event("Revoked")
    def _revoke(self, revoked_at: datetime, reason: str) -> None:
        self.revoked_at = revoked_at

    def admits(self, secret_hash: str, now: datetime) -> bool:
        """True if ``secret_hash`` is this key's and the key is neither revoked nor expired."""
        if self.revoked_at is not None:
            return False
        if self.expires_at is not None and now >= self.expires_at:
            return False
        return hmac.compare_digest(self.secret_hash, secret_hash)
