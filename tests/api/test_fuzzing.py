"""schemathesis over every operation of the OpenAPI document, on real uvicorn and real servers.

Every generated request, valid or not, must be answered without a 5xx and, where the document
describes the answer, by a body that fits it. Driven through schemathesis' Python API (its
pytest plugin does not run on pytest 9). LEDGERLINE_FUZZ_EXAMPLES sets the examples per
operation and generation mode (CI keeps the default); LEDGERLINE_FUZZ_SEED picks a seed other
than the fixed one, for longer local runs that explore further.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from api.app import create_app
from api.services import Services
from tests.api.serving import served
from tests.conftest import bearer, issue_key

EXAMPLES = int(os.environ.get("LEDGERLINE_FUZZ_EXAMPLES") or 4)
SEED = os.environ.get("LEDGERLINE_FUZZ_SEED")
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
# Codes that generated paths often hit, so requests get past "unknown ..." into the handlers.
WORLD = "0"


@pytest.fixture
def api(services: Services) -> Iterator[str]:
    with served(create_app(services)) as base:
        yield base


@pytest.fixture
def tokens(services: Services) -> dict[str, str]:
    return {
        role: issue_key(services, role)
        for role in ("admin", "operator", "auditor", f"channel:{WORLD}")
    }


def seed_world(base: str, admin: str) -> None:
    """A location, channel, SKU with stock, EUR price list and resource, all named "0"."""
    with httpx.Client(base_url=base, headers=bearer(admin), timeout=30) as http:
        for method, path, body in [
            ("PUT", f"/v1/locations/{WORLD}", {"name": "L", "kind": "warehouse"}),
            (
                "PUT",
                f"/v1/channels/{WORLD}",
                {"name": "C", "kind": "web_shop", "locations": [WORLD]},
            ),
            ("PUT", f"/v1/skus/{WORLD}", {"name": "S"}),
            ("POST", f"/v1/skus/{WORLD}/receipts", {"location": WORLD, "quantity": 50}),
            ("PUT", f"/v1/channels/{WORLD}/price-lists/EUR", {"name": "P"}),
            (
                "PUT",
                f"/v1/resources/{WORLD}",
                {"name": "R", "resource_class": "room", "slot_kind": "night", "capacity": 5},
            ),
        ]:
            answer = http.request(method, path, json=body)
            assert answer.is_success, answer.text


def operations(base: str) -> list[Any]:
    schema = schemathesis.openapi.from_url(f"{base}/schema/openapi.json")
    found = [result.ok() for result in schema.get_all_operations()]
    assert len(found) > 60, "the document lost its operations"
    return found


def fuzz(operation: Any, base: str, tokens: dict[str, str], mode: GenerationMode) -> None:
    session = requests.Session()
    roles = sorted(tokens)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=SEED is None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode), role=st.sampled_from(roles))
    def exercise(case: Any, role: str) -> None:
        # A generated Authorization header would test only the 401 path: the key wins.
        case.call_and_validate(
            base_url=base,
            session=session,
            headers=bearer(tokens[role]),
            checks=CHECKS,
            timeout=30,
        )

    if SEED is not None:
        exercise = seed(int(SEED))(exercise)
    exercise()


# The suite's 300 s is for the default; a longer run gets time in proportion.
@pytest.mark.timeout(300 + 60 * EXAMPLES)
def test_no_operation_answers_a_generated_request_with_a_5xx_or_off_its_schema(
    api: str, tokens: dict[str, str]
) -> None:
    # given the API on uvicorn, a small world to act on, and a key for every role
    seed_world(api, tokens["admin"])
    failures: dict[str, str] = {}
    # when every operation gets valid and invalid requests under every role
    for operation in operations(api):
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                fuzz(operation, api, tokens, mode)
            except Unsatisfiable:
                pass  # no input of this operation can be made invalid (it takes none)
            except (Exception, BaseExceptionGroup) as error:
                failures[f"{operation.label} [{mode.value}]"] = str(error)[:2000]
    # then none of them failed a check
    assert failures == {}, "\n\n".join(f"{k}\n{v}" for k, v in failures.items())
