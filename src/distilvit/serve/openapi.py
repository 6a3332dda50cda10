"""The OpenAPI 3.0 description of the REST API, with this server's limits filled in.

Served at `/openapi.json`; the tests load it with schemathesis and fuzz the live server with
it (every response must be one the spec documents, with the documented body and headers).
"""

from __future__ import annotations

from typing import Any

from distilvit import __version__
from distilvit.serve.config import LimitsConfig

_ERROR = {"$ref": "#/components/schemas/Error"}


def _error_response(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description,
                                "content": {"application/json": {"schema": _ERROR}}}
    if headers:
        response["headers"] = headers
    return response


def _options(limits: LimitsConfig) -> dict[str, Any]:
    return {
        "num_beams": {"type": "integer", "minimum": 1, "maximum": limits.max_num_beams,
                      "description": "beam width (1 = greedy; default: the model's)"},
        "max_new_tokens": {"type": "integer", "minimum": 1,
                           "maximum": limits.max_new_tokens_limit,
                           "description": "longest caption in tokens (default: the model's)"},
    }


def _request_body(limits: LimitsConfig) -> dict[str, Any]:
    many = {"minItems": 1, "maxItems": limits.max_images}
    multipart = {"type": "object", "required": ["image"], "additionalProperties": False,
                 "properties": {"image": {"type": "array", **many,
                                          "items": {"type": "string", "format": "binary"},
                                          "description": "one or several image files"},
                                **_options(limits)}}
    encoded = {"type": "string", "format": "byte",
               "description": "image bytes, base64 (a data: URL prefix is allowed; URLs "
                              "are not fetched)"}
    json_body = {"type": "object", "required": ["image"], "additionalProperties": False,
                 "properties": {"image": {"oneOf": [encoded, {"type": "array", **many,
                                                               "items": encoded}]},
                                **_options(limits)}}
    return {"required": True, "content": {"multipart/form-data": {"schema": multipart},
                                          "application/json": {"schema": json_body}}}


def _schemas() -> dict[str, Any]:
    number = {"type": "number", "minimum": 0}
    timings = {"type": "object", "required": ["decode_ms", "queue_ms", "inference_ms",
                                              "total_ms"],
               "properties": {"decode_ms": number, "queue_ms": number,
                              "inference_ms": number, "total_ms": number},
               "description": "decode: reading the file; queue: waiting for its batch; "
                              "inference: the batch's model call; total: the request so far"}
    caption = {"type": "object", "required": ["image", "caption", "batch_size", "timings"],
               "properties": {"image": {"type": "string"}, "caption": {"type": "string"},
                              "batch_size": {"type": "integer", "minimum": 1},
                              "timings": timings}}
    return {
        "Error": {"type": "object", "required": ["error", "status"],
                  "properties": {"error": {"type": "string"}, "status": {"type": "integer"}}},
        "Captions": {"type": "object", "required": ["captions"],
                     "properties": {"captions": {"type": "array", "items": caption}}},
        "Health": {"type": "object", "required": ["status", "queue"],
                   "properties": {"status": {"type": "string", "enum": ["ok", "unavailable"]},
                                  "queue": {"type": "integer", "minimum": 0}}},
        "Info": {"type": "object",
                 "required": ["model", "backend", "base_models", "version", "limits",
                              "batching", "generation"],
                 "properties": {"model": {"type": "string"}, "backend": {"type": "string"},
                                "base_models": {"type": "object"},
                                "version": {"type": "string"}, "limits": {"type": "object"},
                                "batching": {"type": "object"},
                                "generation": {"type": "object"},
                                "stats": {"type": "object"}}},
    }


def _json_ok(description: str, schema: str) -> dict[str, Any]:
    return {"200": {"description": description, "content": {
        "application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}}


def build_spec(limits: LimitsConfig) -> dict[str, Any]:
    retry = {"Retry-After": {"required": True, "description": "seconds to wait",
                             "schema": {"type": "integer", "minimum": 1}}}
    caption_responses = {
        **_json_ok("one caption per image, in the order sent", "Captions"),
        "400": _error_response("missing or malformed field, bad option, broken image, or "
                               "too many pixels"),
        "413": _error_response(f"request body over {limits.max_upload_mb:g} MB"),
        "415": _error_response("not an image in an accepted format, or an unsupported "
                               "content type"),
        "500": _error_response("internal error (the model failed)"),
        "503": _error_response("queue full, timed out or shutting down: retry later", retry),
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "distilvit captioning API", "version": __version__,
                 "description": "Alt-text captions from a distilvit model. Concurrent "
                                "requests are micro-batched."},
        "paths": {
            "/caption": {"post": {"operationId": "caption", "summary": "Caption images",
                                  "requestBody": _request_body(limits),
                                  "responses": caption_responses}},
            "/health": {"get": {"operationId": "health", "summary": "Liveness",
                                "responses": {**_json_ok("serving", "Health"),
                                              "503": {"description": "not serving", "content": {
                                                  "application/json": {"schema": {
                                                      "$ref": "#/components/schemas/Health"}}}}}}},
            "/info": {"get": {"operationId": "info", "summary": "Model, backend, limits",
                              "responses": _json_ok("what this server runs", "Info")}},
            "/": {"get": {"operationId": "page", "summary": "Upload page", "responses": {
                "200": {"description": "HTML page", "content": {"text/html": {
                    "schema": {"type": "string"}}}}}}},
            "/openapi.json": {"get": {"operationId": "openapi", "summary": "This document",
                                      "responses": {"200": {"description": "OpenAPI 3.0",
                                                            "content": {"application/json": {
                                                                "schema": {"type": "object"}}}}}}},
        },
        "components": {"schemas": _schemas()},
    }
