"""The admin API's OpenAPI document (`/openapi.json`, quart-schema) and its docs page
(`/api-docs`): one HTML page rendered on the server from that document, with no script and no
asset from anywhere else (quart-schema's own Swagger, ReDoc and Scalar pages load theirs from
a CDN, so they are off).

Both are public: they describe the API's shape, never data, keys or secrets. Every `/api/`
operation requires `Authorization: Bearer <key>` (the `bearer` security scheme).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable
from html import escape
from typing import Any, TypeVar

from quart import Quart, Response, current_app
from quart_schema import QuartSchema, document_querystring, document_request, document_response
from quart_schema.openapi import OpenAPIProvider
from werkzeug.routing import Rule

from adapters.inbound.http import schemas

OPENAPI_PATH = "/openapi.json"
DOCS_PATH = "/api-docs"
DOCUMENTED_PREFIXES = ("/api/",)
T = TypeVar("T", bound=Callable[..., Any])

_NO_CONTENT = "_gateway_no_content"  # a view answering 204 without a body
_MEDIA_TYPE = "_gateway_media_type"  # a view whose 200 body is not JSON
_ALWAYS = (401, 429, 503)  # every /api/ operation: no or unknown key, too many refusals, no DB
_WHY = {
    400: "malformed JSON body (not UTF-8, not JSON, not an object, nested too deeply)",
    401: "missing or unknown API key",
    404: "not found in the key's workspace",
    409: "conflict",
    413: "body over the size limit",
    422: "invalid fields: `fields` names each one",
    429: "too many refused requests from this address (`Retry-After`)",
    503: "database unavailable, retry later",
}


def api_doc(
    *,
    ok: type[Any] | None = None,
    status: int = 200,
    body: type[Any] | None = None,
    query: type[Any] | None = None,
    errors: Iterable[int] = (),
    media_type: str | None = None,
) -> Callable[[T], T]:
    """Documents one admin API view (it keeps its own parsing and checks): its answer `ok`
    (None: no body) with `status`, its JSON `body` and `query` models, and the error statuses
    it may answer besides those of every operation (401, 429, 503)."""

    def decorate(view: T) -> T:
        if body is not None:
            view = document_request(body)(view)
            codes = {400, 413, 422, *errors}
        else:
            codes = set(errors)
        if query is not None:
            view = document_querystring(query)(view)
            codes.add(422)
        if ok is None:
            setattr(view, _NO_CONTENT, status)
        else:
            view = document_response(ok, status)(view)
        if media_type is not None:
            setattr(view, _MEDIA_TYPE, media_type)
        for code in sorted(codes | set(_ALWAYS)):
            view = document_response(schemas.Error, code)(view)
        return view

    return decorate


def _drop_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter's schema without the `null` of an optional model field: a query
    string has no null, a parameter is left out instead."""
    options = schema.get("anyOf")
    if isinstance(options, list):
        rest = [o for o in options if o.get("type") != "null"]
        if len(rest) == 1 and len(rest) < len(options):
            merged = {k: v for k, v in schema.items() if k != "anyOf"}
            merged.update(rest[0])
            return merged
    return schema


class GatewayOpenAPI(OpenAPIProvider):
    """Only the documented prefixes (the admin API); each operation names its security and
    describes its errors."""

    def generate_rules(self) -> Iterable[Rule]:
        for rule in super().generate_rules():
            if rule.rule.startswith(DOCUMENTED_PREFIXES):
                yield rule

    def build_paths(self, rule: Rule) -> tuple[dict[str, Any], dict[str, Any]]:
        paths, components = super().build_paths(rule)
        view = self._app.view_functions[rule.endpoint]
        for operations in paths.values():
            for method, operation in list(operations.items()):
                operation = copy.deepcopy(operation)
                operations[method] = operation
                operation["security"] = [{"bearer": []}]
                for parameter in operation["parameters"]:
                    if parameter.get("in") == "query":
                        parameter["schema"] = _drop_null(parameter["schema"])
                responses = operation["responses"]
                no_content = getattr(view, _NO_CONTENT, None)
                if no_content is not None:
                    responses[no_content] = {"description": "done; no body"}
                media_type = getattr(view, _MEDIA_TYPE, None)
                if media_type is not None:
                    responses[200]["content"] = {media_type: {"schema": {"type": "string"}}}
                for code, response in responses.items():
                    if code in _WHY:
                        response["description"] = _WHY[code]
                operation["responses"] = {str(c): r for c, r in sorted(responses.items())}
        return paths, components


def init_openapi(app: Quart, version: str) -> QuartSchema:
    """`/openapi.json` and the docs page on `app` (after the API's blueprint is registered)."""
    extension = QuartSchema(
        app,
        openapi_path=OPENAPI_PATH,
        redoc_ui_path=None,
        scalar_ui_path=None,
        swagger_ui_path=None,
        info={
            "title": "Channel gateway admin API",
            "version": version,
            "description": "JSON; `Authorization: Bearer <key>` (`python -m app keys create`). "
            'Errors are `{"error": ...}`, invalid fields (422) also `"fields"`.',
        },
        security_schemes={
            "bearer": {"type": "http", "scheme": "bearer", "bearer_format": "admin API key"}
        },
        openapi_provider_class=GatewayOpenAPI,
    )

    @app.get(DOCS_PATH)
    async def api_docs() -> Response:
        document = current_app.extensions["QUART_SCHEMA"].openapi_provider.schema()
        response = Response(render_docs(document), content_type="text/html; charset=utf-8")
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    # The page itself is no API operation.
    api_docs._quart_schema_hidden = True  # type: ignore[attr-defined]
    return extension


# -- the docs page ----------------------------------------------------------------------------

_STYLE = """
body{font:15px/1.45 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;
color:#1d232a}h1{font-size:1.6rem}h2{margin-top:2.2rem;border-bottom:1px solid #ccd}
.op{border:1px solid #ccd;border-radius:6px;margin:1rem 0;padding:.6rem .9rem}
.m{display:inline-block;min-width:4.2rem;font-weight:700;font-family:monospace}
code,pre{font-family:ui-monospace,monospace;font-size:.88em}pre{background:#f4f5f8;
padding:.6rem;overflow:auto;border-radius:4px}table{border-collapse:collapse}
td,th{padding:.15rem .6rem .15rem 0;text-align:left;vertical-align:top}
.get{color:#0a6b2d}.post{color:#7a4b00}.put{color:#134f91}.patch{color:#5d2a91}
.delete{color:#a11}
"""
_REF = re.compile(r"#/components/schemas/(.+)")


def _type_of(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        match = _REF.match(schema["$ref"])
        name = match.group(1) if match else schema["$ref"]
        return f'<a href="#schema-{escape(name)}">{escape(name)}</a>'
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " | ".join(_type_of(s) for s in schema[key])
    if "const" in schema:
        return f"<code>{escape(repr(schema['const']))}</code>"
    if "enum" in schema:
        return " | ".join(f"<code>{escape(str(v))}</code>" for v in schema["enum"])
    kind = schema.get("type", "any")
    if kind == "array":
        return f"array of {_type_of(schema.get('items', {}))}"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"object of {_type_of(schema['additionalProperties'])}"
    text = escape(str(kind))
    if "format" in schema:
        text += f" ({escape(schema['format'])})"
    return text


def _schema_table(schema: dict[str, Any]) -> str:
    properties = schema.get("properties")
    if not properties:
        return f"<p>{_type_of(schema)}</p>"
    required = set(schema.get("required", ()))
    rows = "".join(
        f"<tr><td><code>{escape(name)}</code>{'' if name in required else '?'}</td>"
        f"<td>{_type_of(prop)}</td><td>{escape(str(prop.get('description', '')))}</td></tr>"
        for name, prop in properties.items()
    )
    return f"<table>{rows}</table>"


def render_docs(document: dict[str, Any]) -> str:
    """The OpenAPI document as one self-contained HTML page."""
    info = document.get("info", {})
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{escape(info.get('title', 'API'))}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{escape(info.get('title', 'API'))} <small>{escape(info.get('version', ''))}</small>"
        "</h1>",
        f"<p>{escape(info.get('description', ''))}</p>",
        f"<p>Machine-readable: <a href='{OPENAPI_PATH}'>{OPENAPI_PATH}</a> (OpenAPI "
        f"{escape(document.get('openapi', ''))}).</p><h2>Operations</h2>",
    ]
    for path, operations in document.get("paths", {}).items():
        for method, op in operations.items():
            parts.append(
                f"<div class='op' id='{escape(op.get('operationId', ''))}'>"
                f"<span class='m {escape(method)}'>{escape(method.upper())}</span> "
                f"<code>{escape(path)}</code>"
            )
            if op.get("summary"):
                parts.append(f"<p>{escape(op['summary'])}</p>")
            if op.get("description"):
                parts.append(f"<pre>{escape(op['description'])}</pre>")
            params = op.get("parameters", [])
            if params:
                rows = "".join(
                    f"<tr><td><code>{escape(p['name'])}</code></td><td>{escape(p['in'])}</td>"
                    f"<td>{_type_of(p.get('schema', {}))}</td>"
                    f"<td>{escape(str(p.get('description', '')))}</td></tr>"
                    for p in params
                )
                parts.append(f"<b>Parameters</b><table>{rows}</table>")
            body = op.get("requestBody", {}).get("content", {})
            for media, content in body.items():
                schema = _type_of(content.get("schema", {}))
                parts.append(f"<b>Body</b> ({escape(media)}): {schema}")
            rows = "".join(
                f"<tr><td>{escape(code)}</td><td>"
                + ", ".join(
                    f"{escape(m)}: {_type_of(c.get('schema', {}))}"
                    for m, c in response.get("content", {}).items()
                )
                + f"</td><td>{escape(response.get('description', ''))}</td></tr>"
                for code, response in op.get("responses", {}).items()
            )
            parts.append(f"<b>Responses</b><table>{rows}</table></div>")
    parts.append("<h2>Schemas</h2>")
    for name, schema in document.get("components", {}).get("schemas", {}).items():
        parts.append(f"<div class='op' id='schema-{escape(name)}'><b>{escape(name)}</b>")
        if schema.get("description"):
            parts.append(f"<p>{escape(schema['description'])}</p>")
        parts.append(_schema_table(schema) + "</div>")
    parts.append("</body></html>")
    return "".join(parts)
