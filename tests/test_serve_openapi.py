"""The served OpenAPI document is valid, and the live server keeps to it under fuzzing.

schemathesis reads `/openapi.json` from a real server and generates requests from it: data
that fits the schema (positive) and data that breaks it (negative). Every response must be
one the document lists for that operation, with the listed content type, headers and body
schema, never a 5xx; negative requests must be refused with a 4xx.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from serve_fixtures import running_server

CONFORMANCE = [not_a_server_error, status_code_conformance, content_type_conformance,
               response_headers_conformance, response_schema_conformance]
EXAMPLES = {"POST /caption": 25}  # other operations take no input: a few calls suffice


@pytest.fixture(scope="module")
def url(shapes_export_dir):
    with running_server(shapes_export_dir) as base:
        yield base


@pytest.fixture(scope="module")
def schema(url):
    return schemathesis.openapi.from_url(f"{url}/openapi.json")


def test_the_document_is_valid_openapi(schema):
    schema.validate()  # raises on any violation of the OpenAPI 3.0 meta-schema
    labels = {op.ok().label for op in schema.get_all_operations()}
    # (schemathesis leaves out the document's own path, /openapi.json)
    assert labels >= {"POST /caption", "GET /health", "GET /info", "GET /"}
    assert "/openapi.json" in schema.raw_schema["paths"]


def fuzz(operation, url: str, mode: GenerationMode, examples: int) -> list[int]:
    checks = CONFORMANCE + ([negative_data_rejection] if mode is GenerationMode.NEGATIVE else [])
    statuses: list[int] = []

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case):
        statuses.append(case.call_and_validate(base_url=url, checks=checks,
                                               timeout=60).status_code)

    run()
    return statuses


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
                         ids=str)
def test_the_server_keeps_to_the_document(schema, url, mode):
    seen: dict[str, list[int]] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        if mode is GenerationMode.NEGATIVE and not list(operation.body):
            continue  # nothing to break in a GET without parameters
        seen[operation.label] = fuzz(operation, url, mode, EXAMPLES.get(operation.label, 3))
    assert seen.get("POST /caption"), "no request was generated for POST /caption"
    assert all(status < 500 for statuses in seen.values() for status in statuses)
