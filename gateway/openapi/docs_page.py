"""``GET /docs``: the OpenAPI document rendered as one self-contained HTML page.

No CDN and no script: the page must work on an air-gapped deployment and cannot become a
place to inject code. Everything shown is escaped.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from gateway.openapi.document import ACTION_REQUESTS

_STYLE = """
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
h1,h2,h3{line-height:1.2}h2{border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2.5rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem}td,th{border:1px solid #ddd;padding:.3rem .5rem;
text-align:left;vertical-align:top}th{background:#f5f5f5}code,pre{background:#f5f5f5;border-radius:3px}
pre{padding:.6rem;overflow:auto}nav a{margin-right:.8rem}
"""


def _type_of(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "const" in schema:
        return json.dumps(schema["const"])
    if "enum" in schema:
        return " | ".join(json.dumps(value) for value in schema["enum"])
    if schema.get("type") == "array":
        return f"array of {_type_of(schema.get('items', {}))}"
    for union in ("anyOf", "oneOf"):
        if union in schema:
            return " | ".join(_type_of(item) for item in schema[union])
    return str(schema.get("type", "any"))


def _fields_table(schema: dict[str, Any]) -> str:
    required = set(schema.get("required", []))
    rows = []
    for name, field in schema.get("properties", {}).items():
        default = json.dumps(field["default"]) if "default" in field else ""
        limits = [
            f"{word} {field[key]}" for key, word in (("minimum", "min"), ("maximum", "max")) if key in field
        ]
        if "maxLength" in field:
            limits.append(f"max length {field['maxLength']}")
        if "pattern" in field:
            limits.append(f"pattern {field['pattern']}")
        description = " ".join(filter(None, [field.get("description", ""), "; ".join(limits)]))
        rows.append(
            f"<tr><td><code>{escape(name)}</code></td><td>{escape(_type_of(field))}</td>"
            f"<td>{'yes' if name in required else 'no'}</td><td>{escape(default)}</td>"
            f"<td>{escape(description)}</td></tr>"
        )
    if not rows:
        return "<p>No fields.</p>"
    head = "<tr><th>field</th><th>type</th><th>required</th><th>default</th><th>description</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def _example(schema: dict[str, Any]) -> str:
    body = {"action": schema["properties"]["action"]["const"]}
    for name in schema.get("required", []):
        if name != "action":
            body[name] = "run_k3j9x0a7b2c4d6e8f1g5" if name == "id" else "..."
    return f"<pre>{escape(json.dumps(body, indent=2))}</pre>"


def render_docs(document: dict[str, Any]) -> str:
    """The HTML page for ``document`` (as built by :func:`openapi_document`)."""
    schemas = document["components"]["schemas"]
    operation = document["paths"]["/api/v2"]["post"]
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>{escape(document['info']['title'])}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{escape(document['info']['title'])} <small>{escape(document['info']['version'])}</small></h1>",
        "<nav>"
        + "".join(f'<a href="#{escape(action)}">{escape(action)}</a>' for action in ACTION_REQUESTS)
        + '<a href="#responses">responses</a><a href="#errors">errors</a>'
        + '<a href="#webhooks">webhooks</a><a href="/openapi.json">openapi.json</a></nav>',
        "".join(f"<p>{escape(p)}</p>" for p in document["info"]["description"].split("\n\n")),
        "<p>Authenticate with <code>Authorization: Bearer imgen_...</code> and send "
        "<code>POST /api/v2</code> with a JSON body.</p>",
        "<h2>Headers</h2>",
        _fields_table(
            {
                "properties": {
                    p["name"]: {**p["schema"], "description": p["description"]}
                    for p in operation["parameters"]
                }
            }
        ),
    ]
    for action, name in ACTION_REQUESTS.items():
        schema = schemas[name]
        parts += [
            f'<h2 id="{escape(action)}"><code>{escape(action)}</code></h2>',
            f"<p>{escape(schema.get('description', ''))}</p>",
            _example(schema),
            _fields_table(schema),
        ]
    parts.append('<h2 id="responses">Responses</h2>')
    for name in (
        "ModelsResponse",
        "GenerateResponse",
        "StatusPending",
        "StatusCompleted",
        "StatusBlocked",
        "StatusEnded",
        "CancelResponse",
        "PromptResponse",
        "VerifyResponse",
    ):
        parts += [
            f"<h3>{escape(name)}</h3>",
            f"<p>{escape(schemas[name].get('description', ''))}</p>",
            _fields_table(schemas[name]),
        ]
    parts.append(
        '<h2 id="errors">Errors</h2><p>Every error is <code>{"error": "..."}</code>.</p>'
        "<table><tr><th>status</th><th>when</th><th>headers</th></tr>"
    )
    for status, response in sorted(operation["responses"].items()):
        if status == "200":
            continue
        headers = ", ".join(response.get("headers", {}))
        parts.append(
            f"<tr><td>{escape(status)}</td><td>{escape(response['description'])}</td>"
            f"<td>{escape(headers)}</td></tr>"
        )
    parts += [
        "</table>",
        '<h2 id="webhooks">Webhook payload</h2>',
        _fields_table(schemas["WebhookPayload"]),
        "</body></html>",
    ]
    return "".join(parts)
