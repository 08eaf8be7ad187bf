"""The OpenAPI 3.1 description of the action API (``GET /openapi.json``).

Written out by hand from the spec and :mod:`gateway.actions` rather than derived from code:
the v2 API is one path whose body is a union discriminated by ``action``, and its lenient
rules (wrong types fall back to defaults, ranges are clamped) are stated in descriptions
where JSON Schema cannot say them. ``tests/gateway/test_openapi*.py`` fuzzes the running
gateway against this document and checks it names every action the gateway serves.
"""

from __future__ import annotations

from typing import Any

from gateway.request_model import DEFAULT_SIZE, FORMATS, MAX_SEED, VALID_SIZES, WM_POSITIONS
from gateway.webhooks.events import ALL_EVENTS, MAX_URL_CHARS

Schema = dict[str, Any]

JOB_ID_PATTERN = "^run_[a-z0-9]{20}$"
GEN_ID_PATTERN = "^[a-z0-9]{20}$"


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _action(name: str) -> Schema:
    return {"type": "string", "const": name}


def _int(default: int, low: int, high: int, text: str) -> Schema:
    return {
        "type": "integer",
        "default": default,
        "minimum": low,
        "maximum": high,
        "description": f"{text} Out-of-range values are clamped; a non-integer means the default.",
    }


def _request(action: str, description: str, properties: Schema, required: tuple[str, ...] = ()) -> Schema:
    return {
        "type": "object",
        "description": description,
        "required": ["action", *required],
        "properties": {"action": _action(action), **properties},
    }


_MODEL = {"type": "string", "default": "eros", "description": "Model key; unknown keys fall back."}
_STYLE = {"type": "string", "default": "", "description": "Style preset key; empty means the default."}
_SEED = {
    "type": "integer",
    "minimum": 0,
    "maximum": MAX_SEED,
    "description": "Beyond the spec: a fixed seed for reproducible output; omitted means random.",
}


def _generate_request() -> Schema:
    sizes = ", ".join(f"{w}x{h}" for w, h in sorted(VALID_SIZES))
    wm = {
        "wm_image": {
            "type": "string",
            "default": "",
            "description": (
                "Watermark image, base64 data URI of a PNG, JPEG or WebP (at most 2 MiB and 4 megapixels "
                "by default). Checked at submission: a wrong type, a truncated or undecodable file, or too "
                "many pixels is a 400 naming the reason. Empty uses the configured default logo."
            ),
        },
        "wm_position": {"type": "string", "enum": list(WM_POSITIONS), "default": "bottom-right"},
        "wm_scale": _int(5, 1, 100, "Watermark scale, percent of the image width."),
        "wm_transparency": _int(100, 0, 100, "Watermark opacity, percent."),
        "wm_rotation": _int(0, -360, 360, "Watermark rotation, degrees."),
        "wm_padding_x": _int(10, 0, 500, "Horizontal watermark padding, pixels."),
        "wm_padding_y": _int(10, 0, 500, "Vertical watermark padding, pixels."),
    }
    cs = {
        f"cs_{name}": {"type": "string", "default": "", "description": f"Override the C2PA {name}."}
        for name in ("author", "title", "description", "organization", "vendor")
    }
    return _request(
        "generate",
        "Submit an image generation job. Send an `Idempotency-Key` header to make retries safe.",
        {
            "prompt": {
                "type": "string",
                "minLength": 1,
                "description": "Raw prompt; supports `@character` and comma-separated `-negative` terms.",
            },
            "model": _MODEL,
            "negative": {"type": "string", "default": "", "description": "Additional negatives."},
            "optimize": {"type": "boolean", "default": False, "description": "LLM-enhance the prompt first."},
            "width": {
                "type": "integer",
                "default": DEFAULT_SIZE[0],
                "description": f"Image width; (width, height) must be one of {sizes}, else 1344x768.",
            },
            "height": {"type": "integer", "default": DEFAULT_SIZE[1], "description": "Image height."},
            "style": _STYLE,
            "format": {"type": "string", "enum": list(FORMATS), "default": "jpeg"},
            "quality": _int(95, 1, 100, "Compression quality."),
            "lossless": {"type": "boolean", "default": False, "description": "Lossless WebP/AVIF."},
            **wm,
            **cs,
            "seed": _SEED,
            "webhook": {
                "type": "string",
                "format": "uri",
                "maxLength": MAX_URL_CHARS,
                "description": "Beyond the spec: an http(s) URL that receives a signed POST when the job "
                "ends (see the Webhooks section). Private, loopback and link-local addresses are refused "
                "unless the operator allows them.",
            },
            "webhook_events": {
                "type": "array",
                "items": {"type": "string", "enum": list(ALL_EVENTS)},
                "uniqueItems": True,
                "description": "Which terminal events to send; omitted means all of them.",
            },
        },
        required=("prompt",),
    )


def _job_id(description: str) -> Schema:
    return {"type": "string", "pattern": JOB_ID_PATTERN, "description": description}


def request_schemas() -> dict[str, Schema]:
    """One request schema per action, by component name."""
    return {
        "ModelsRequest": _request("models", "List characters, models and styles.", {}),
        "GenerateRequest": _generate_request(),
        "StatusRequest": _request(
            "status",
            "Poll a job. `prompt` and `model` are accepted as the spec passes them, and ignored.",
            {
                "id": _job_id("The job id returned by generate."),
                "prompt": {"type": "string"},
                "model": _MODEL,
            },
            required=("id",),
        ),
        "CancelRequest": _request(
            "cancel",
            "Beyond the spec: cancel a queued or running job.",
            {"id": _job_id("The job id.")},
            ("id",),
        ),
        "OptimizeRequest": _request(
            "optimize",
            "Enhance a prompt with the LLM.",
            {"prompt": {"type": "string", "minLength": 1}, "model": _MODEL, "style": _STYLE},
            required=("prompt",),
        ),
        "RandomRequest": _request(
            "random",
            'A random prompt: omit `character` for a random one, `""` for none, or name one.',
            {"character": {"type": "string"}, "model": _MODEL, "style": _STYLE, "seed": _SEED},
        ),
        "VerifyRequest": _request(
            "verify",
            "Beyond the spec: whether an image was made here, and which generation it is.",
            {
                "image": {
                    "type": "string",
                    "contentEncoding": "base64",
                    "description": "The image file, base64 or a `data:image/...;base64,` URI.",
                }
            },
            required=("image",),
        ),
    }


#: action → request component, in the order the docs list them.
ACTION_REQUESTS: dict[str, str] = {
    "models": "ModelsRequest",
    "generate": "GenerateRequest",
    "status": "StatusRequest",
    "cancel": "CancelRequest",
    "optimize": "OptimizeRequest",
    "random": "RandomRequest",
    "verify": "VerifyRequest",
}


def response_schemas() -> dict[str, Schema]:
    """The success answers and the error shape, by component name."""
    image = {
        "type": "object",
        "required": ["url", "filename", "type"],
        "properties": {
            "url": {"type": "string", "description": "Pre-signed URL, fresh on every poll; it expires."},
            "filename": {"type": "string"},
            "type": {"type": "string", "enum": ["signed", "thumbnail"]},
        },
    }
    terminal = ["COMPLETED", "FAILED", "TIMED_OUT", "CANCELLED"]
    return {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {"error": {"type": "string", "description": "What went wrong, for humans."}},
        },
        "ModelsResponse": {
            "type": "object",
            "required": ["characters", "models"],
            "properties": {
                "characters": {"type": "array", "items": {"type": "string"}},
                "models": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "properties": {
                            "label": {"type": "string"},
                            "default_style": {"type": "string"},
                            "styles": {
                                "type": "object",
                                "additionalProperties": {
                                    "type": "object",
                                    "properties": {"label": {"type": "string"}},
                                },
                            },
                        },
                    },
                },
            },
        },
        "GenerateResponse": {
            "type": "object",
            "required": ["id", "prompt", "model", "format", "gen_id"],
            "properties": {
                "id": {"type": "string", "pattern": JOB_ID_PATTERN},
                "prompt": {"type": "string"},
                "model": {"type": "string"},
                "format": {"type": "string", "enum": list(FORMATS)},
                "gen_id": {"type": "string", "pattern": GEN_ID_PATTERN},
            },
        },
        "StatusPending": {
            "type": "object",
            "required": ["status"],
            "properties": {
                "status": {"type": "string", "enum": ["IN_QUEUE", "IN_PROGRESS"]},
                "queue_position": {"type": "integer"},
                "progress": {"type": "number"},
                "step": {"type": "integer"},
                "total_steps": {"type": "integer"},
            },
        },
        "StatusCompleted": {
            "type": "object",
            "required": ["status", "meta"],
            "properties": {
                "status": {"const": "COMPLETED"},
                "meta": {
                    "type": "object",
                    "description": "Everything about the generation, as in the spec (id, gen_id, time, "
                    "prompt, positive, negative, model, style, size, format, compliance, fingerprint, ...).",
                    "properties": {"images": {"type": "array", "items": image}},
                },
            },
        },
        "StatusBlocked": {
            "type": "object",
            "required": ["status", "compliance", "error"],
            "properties": {
                "status": {"const": "COMPLETED"},
                "compliance": {"const": "unsafe"},
                "error": {"type": "string"},
                "filter_categories": {"type": "array", "items": {"type": "string"}},
            },
        },
        "StatusEnded": {
            "type": "object",
            "required": ["status", "error"],
            "properties": {"status": {"enum": terminal[1:]}, "error": {"type": "string"}},
        },
        "StatusResponse": {
            "anyOf": [
                _ref("StatusPending"),
                _ref("StatusCompleted"),
                _ref("StatusBlocked"),
                _ref("StatusEnded"),
            ]
        },
        "CancelResponse": {
            "type": "object",
            "required": ["status"],
            "properties": {"status": {"type": "string", "description": "The job's state after the cancel."}},
        },
        "PromptResponse": {
            "type": "object",
            "required": ["prompt"],
            "properties": {"prompt": {"type": "string"}},
        },
        "VerifyResponse": {
            "type": "object",
            "description": "C2PA validation, the watermark's generation and the nearest PDQ match.",
            "additionalProperties": True,
        },
        "WebhookPayload": {
            "type": "object",
            "required": ["id", "event", "created_at", "job_id", "data"],
            "properties": {
                "id": {"type": "string", "description": "Delivery id, also in X-Imgen-Delivery."},
                "event": {"type": "string", "enum": list(ALL_EVENTS)},
                "created_at": {"type": "string", "format": "date-time"},
                "job_id": {"type": "string", "pattern": JOB_ID_PATTERN},
                "data": _ref("StatusResponse"),
            },
        },
    }


def _rate_headers() -> dict[str, Schema]:
    return {
        "X-RateLimit-Limit": {
            "description": "Requests allowed in the window.",
            "schema": {"type": "integer"},
        },
        "X-RateLimit-Remaining": {
            "description": "Requests left in the window.",
            "schema": {"type": "integer"},
        },
        "X-RateLimit-Reset": {
            "description": "Seconds until the quota is full again.",
            "schema": {"type": "integer"},
        },
        "X-Request-Id": {"description": "The request's id, also in the logs.", "schema": {"type": "string"}},
    }


def _error(description: str, extra_headers: dict[str, Schema] | None = None) -> Schema:
    return {
        "description": description,
        "headers": {**_rate_headers(), **(extra_headers or {})},
        "content": {"application/json": {"schema": _ref("Error")}},
    }


ERRORS: dict[str, str] = {
    "400": "Invalid JSON, Missing action, Unknown action, Prompt is required, Invalid character, Bad ID, "
    "or a field the gateway refuses (too long, malformed webhook, unknown webhook event).",
    "401": "Unauthorized: missing, unknown or disabled API key.",
    "409": "The Idempotency-Key was used with a different body, or its first request is still running.",
    "413": "Request body or image too large.",
    "502": "Generation failed / Enhancement failed: an upstream service failed or timed out.",
    "503": "The rate-limit service is unreachable and the gateway is configured to fail closed.",
}


def openapi_document(server_url: str = "/") -> dict[str, Any]:
    """The whole document; ``server_url`` is where the API is served."""
    requests = request_schemas()
    responses = response_schemas()
    success = [
        "ModelsResponse",
        "GenerateResponse",
        "StatusResponse",
        "CancelResponse",
        "PromptResponse",
        "VerifyResponse",
    ]
    api_responses: dict[str, Schema] = {
        "200": {
            "description": "The action's answer: models, generate, status, cancel, optimize/random "
            "(PromptResponse) or verify.",
            "headers": {
                **_rate_headers(),
                "Idempotent-Replayed": {
                    "description": "`true` when a generate was answered from its Idempotency-Key.",
                    "schema": {"type": "string"},
                },
            },
            "content": {"application/json": {"schema": {"anyOf": [_ref(name) for name in success]}}},
        },
        **{status: _error(text) for status, text in ERRORS.items()},
        "429": _error(
            "Rate limit exceeded (per client address before authentication, per API key after).",
            {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}},
        ),
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "imgen API v2",
            "version": "2.0.0",
            "description": "One endpoint, `POST /api/v2`, whose JSON body names an `action`. Every error is "
            '`{"error": "..."}`. Optional fields of the wrong type take their default; numeric ranges are '
            "clamped. Beyond the spec: `cancel`, `verify`, `seed`, `webhook`, `Idempotency-Key`.\n\n"
            "Webhooks: when a job submitted with `webhook` ends, the gateway POSTs a WebhookPayload with "
            "headers `X-Imgen-Event`, `X-Imgen-Delivery`, `X-Imgen-Timestamp` and `X-Imgen-Signature: "
            "v1=<hex>`, the HMAC-SHA256 of `{timestamp}.{body}` under the operator's webhook secret. "
            "Answer 2xx; anything else is retried with exponential backoff. Refuse payloads whose "
            "timestamp is more than a few minutes old.",
        },
        "servers": [{"url": server_url}],
        "security": [{"bearerAuth": []}],
        "paths": {
            "/api/v2": {
                "post": {
                    "operationId": "action",
                    "summary": "Run one action",
                    "parameters": [
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "description": "On generate: a retry with the same key and body returns the "
                            "same job; the same key with another body is 409. Keys expire.",
                            "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "oneOf": [_ref(name) for name in ACTION_REQUESTS.values()],
                                    "discriminator": {
                                        "propertyName": "action",
                                        "mapping": {
                                            action: f"#/components/schemas/{name}"
                                            for action, name in ACTION_REQUESTS.items()
                                        },
                                    },
                                }
                            }
                        },
                    },
                    "responses": api_responses,
                }
            }
        },
        "components": {
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "description": "An `imgen_...` API key."}
            },
            "schemas": {**requests, **responses},
        },
    }
