"""API keys: issue, revoke, list and authenticate. A log of its own (``access_events``).

Tokens look like ``ll_<key id>_<secret>``. The key id finds the key's stream directly; only
the SHA-256 of the secret is stored. The secret is 256 random bits, so a fast hash is
enough: there is nothing to guess.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application

from application.commands import ANONYMOUS, CommandRunner, Outcome, Request
from domain.access import ApiKey, Role
from domain.errors import NotFound
from domain.identity import stream_id

TOKEN_PREFIX = "ll_"  # noqa: S105 - a visible prefix, not a secret
# A revocation made through another process takes effect here within this many seconds.
AUTH_CACHE_SECONDS = 5.0


class UnknownKey(NotFound):
    code = "unknown-key"
    title = "Unknown API key"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a key's id and name, and what its roles let it do."""

    key_id: str
    name: str
    roles: frozenset[Role]

    @property
    def channel(self) -> str | None:
        """The channel a channel key speaks for (a channel key carries only that role)."""
        for role in self.roles:
            if role.kind == "channel":
                return role.scope
        return None


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_token(token: str) -> tuple[str, str] | None:
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    key_id, _, secret = token[len(TOKEN_PREFIX) :].partition("_")
    if not key_id or not secret:
        return None
    return key_id, secret


def key_view(key: ApiKey) -> dict[str, Any]:
    return {
        "key_id": key.key_id,
        "name": key.name,
        "roles": list(key.roles),
        "expires_at": None if key.expires_at is None else key.expires_at.isoformat(),
        "revoked_at": None if key.revoked_at is None else key.revoked_at.isoformat(),
        "version": key.version,
    }


class NotCached:
    """The answer of :meth:`AccessApp.authenticate_cached` when it would need the database."""


NOT_CACHED = NotCached()


def _principal(key: ApiKey | None, secret: str, now: datetime) -> Principal | None:
    if key is None or not key.admits(hash_secret(secret), now):
        return None
    return Principal(key.key_id, key.name, frozenset(Role.parse(r) for r in key.roles))


@dataclass(frozen=True)
class IssuedKey:
    outcome: Outcome
    token: str | None  # None when this answers a retry: a secret is shown once only


class AccessApp(Application[UUID]):
    name = "access"
    env: ClassVar[dict[str, str]] = {}

    def __init__(self, env: dict[str, str] | None = None) -> None:
        super().__init__(env)
        self.commands = CommandRunner(self)
        self._cache: dict[str, tuple[ApiKey, float]] = {}
        self._cache_lock = threading.Lock()
        # Keys this process revoked: refused even if a load that began before the
        # revocation puts the old state back in the cache.
        self._revoked_here: set[str] = set()

    def issue_key(
        self,
        name: str,
        roles: list[str],
        *,
        now: datetime,
        expires_at: datetime | None = None,
        request: Request = ANONYMOUS,
    ) -> IssuedKey:
        """Make a key. The token is in the answer once; the store holds only its hash."""
        key_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)

        def decide(existing: ApiKey | None) -> tuple[ApiKey, dict[str, Any]]:
            key = ApiKey.issue(key_id, name, roles, hash_secret(secret), now, expires_at)
            return key, key_view(key)

        outcome = self.commands.run(stream_id("apikey", key_id), decide, request)
        token = None if outcome.replayed else f"{TOKEN_PREFIX}{key_id}_{secret}"
        return IssuedKey(outcome, token)

    def revoke_key(
        self, key_id: str, *, now: datetime, reason: str = "", request: Request = ANONYMOUS
    ) -> Outcome:
        def decide(key: ApiKey | None) -> tuple[ApiKey, dict[str, Any]]:
            assert key is not None
            key.revoke(now, reason)
            return key, key_view(key)

        outcome = self.commands.run(
            stream_id("apikey", key_id),
            decide,
            request,
            missing=lambda: UnknownKey(f"no key {key_id!r}", key_id=key_id),
        )
        with self._cache_lock:
            self._revoked_here.add(key_id)
            self._cache.pop(key_id, None)
        return outcome

    def keys(self) -> list[dict[str, Any]]:
        """Every key ever issued, oldest first (keys are few: the log is read whole)."""
        seen: dict[Any, None] = {}  # ordered set of streams
        start = 1
        while batch := self.recorder.select_notifications(start, 1000):
            for notification in batch:
                seen[notification.originator_id] = None
            start = batch[-1].id + 1
        return [key_view(self.repository.get(stream)) for stream in seen]

    def has_keys(self) -> bool:
        return self.recorder.max_notification_id() is not None

    def authenticate(self, token: str, now: datetime) -> Principal | None:
        """The principal behind ``token``, or None for any kind of bad token."""
        parts = split_token(token)
        if parts is None:
            return None
        if parts[0] in self._revoked_here:
            return None
        key = self._cached(parts[0]) or self._load(parts[0])
        return _principal(key, parts[1], now)

    def authenticate_cached(self, token: str, now: datetime) -> Principal | NotCached | None:
        """As :meth:`authenticate` without touching the database: NOT_CACHED if the key is
        not cached, so a caller on an event loop need only leave it for a cache miss."""
        parts = split_token(token)
        if parts is None:
            return None
        if parts[0] in self._revoked_here:
            return None
        key = self._cached(parts[0])
        return NOT_CACHED if key is None else _principal(key, parts[1], now)

    def _cached(self, key_id: str) -> ApiKey | None:
        with self._cache_lock:
            cached = self._cache.get(key_id)
        if cached is not None and time.monotonic() - cached[1] < AUTH_CACHE_SECONDS:
            return cached[0]
        return None

    def _load(self, key_id: str) -> ApiKey | None:
        try:
            key: ApiKey = self.repository.get(stream_id("apikey", key_id))
        except (AggregateNotFoundError, ValueError):
            return None
        with self._cache_lock:
            self._cache[key_id] = (key, time.monotonic())
        return key
