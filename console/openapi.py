"""The console's OpenAPI 3.1 document, served at /api/openapi.json.

Every route under /api/ and the operations endpoints are here; tests check the
document is valid OpenAPI and that it and the router name the same routes.
Public: the dossier look-up (rate-limited, public view only). Token: the push of
dossier events. Session: the console's own pages' APIs (signed-in cookie plus
the X-CSRF-Token header on writes).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from console.access import public

_ERROR = {"$ref": "#/components/schemas/Error"}
SESSION: list[dict[str, list[str]]] = [{"session": []}]


def _op(summary: str, *, security: list[Any] | None = None, **more: Any) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "responses": more.pop("responses", None) or {"200": {"description": "OK"}},
    }
    if security is not None:
        op["security"] = security
    op.update(more)
    return op


def _param(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string"},
    }


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


PROMPT = _param("prompt", "prompt id, e.g. ivr_welcome")
DOSSIER_VIEW = {
    "type": "object",
    "description": "The public view of a dossier: status and dates, never a name or a phone.",
    "properties": {
        "code": {"type": "string"},
        "status": {"type": "integer"},
        "status_label": {"type": "string"},
        "received_on": {"type": "string", "format": "date"},
        "due_on": {"type": "string", "format": "date"},
        "rescheduled_on": {"type": ["string", "null"], "format": "date"},
        "effective_due_on": {"type": "string", "format": "date"},
        "ready_on": {"type": ["string", "null"], "format": "date"},
        "overdue": {"type": "boolean"},
        "timeliness": {"type": ["string", "null"]},
        "procedure": {"type": "string"},
        "procedure_code": {"type": "string"},
        "agency": {"type": "string"},
        "agency_id": {"type": "string"},
        "collection_place": {"type": "string"},
    },
    "required": ["code", "status", "status_label", "due_on"],
}
EVENT_RECORD = {
    "type": "object",
    "description": "A dossier as the one-stop system now has it, in `tracuu import` field "
    "names; checked like an imported row.",
    "properties": {
        "code": {"type": "string"},
        "status": {"type": ["string", "integer"]},
        "due_on": {"type": "string", "format": "date"},
        "received_on": {"type": "string", "format": "date"},
        "rescheduled_on": {"type": "string", "format": "date"},
        "ready_on": {"type": "string", "format": "date"},
        "returned_on": {"type": "string", "format": "date"},
        "status_at": {"type": "string", "format": "date-time"},
        "procedure_name": {"type": "string"},
        "procedure_code": {"type": "string"},
        "agency_id": {"type": "string"},
        "agency_name": {"type": "string"},
        "collection_place": {"type": "string"},
        "applicant_name": {"type": "string"},
        "phones": {"type": "string"},
        "id_number": {"type": "string"},
        "address": {"type": "string"},
        "secret": {"type": "string"},
    },
    "required": ["code", "status", "due_on"],
}

SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "tracuu console",
        "version": "1",
        "description": "Dossier status look-up for citizens' kiosks and sites, dossier events "
        "from the one-stop system, and the operator console's own APIs.",
    },
    "paths": {
        "/api/dossiers/{code}": {"get": _op(
            "The public status of one dossier (rate-limited per client address)",
            security=[],
            parameters=[_param("code", "the dossier code as on the receipt, any spelling"),
                        {"name": "channel", "in": "query", "required": False,
                         "schema": {"type": "string", "enum": ["web", "kiosk"]}}],
            responses={"200": _json(DOSSIER_VIEW), "400": _json(_ERROR, "invalid code"),
                       "404": _json(_ERROR, "no such dossier"),
                       "409": _json(_ERROR, "a date and sequence alone that several "
                                    "agencies share: the error lists their codes"),
                       "429": _json(_ERROR, "too many look-ups"),
                       "503": _json(_ERROR, "the dossier store is unavailable")},
        )},
        "/api/dossier-events": {"post": _op(
            "Push changed dossiers; the reminders they call for are queued at once",
            security=[{"token": []}],
            requestBody={"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["events"],
                "properties": {"events": {"type": "array", "minItems": 1, "maxItems": 200,
                                          "items": EVENT_RECORD}}}}}},
            responses={
                "202": _json({"$ref": "#/components/schemas/PushResult"}, "all stored"),
                "207": _json({"$ref": "#/components/schemas/PushResult"}, "some refused"),
                "400": _json(_ERROR, "not JSON or no events"),
                "401": _json(_ERROR, "missing or wrong token"),
                "413": _json(_ERROR, "more than 200 events"),
                "503": _json(_ERROR, "no token configured")},
        )},
        "/api/openapi.json": {"get": _op("This document", security=[])},
        "/healthz": {"get": _op("The process is alive", security=[])},
        "/readyz": {"get": _op(
            "Ready to serve: database reachable, SMPP bound and AMI connected where configured",
            security=[],
            responses={"200": _json({"$ref": "#/components/schemas/Ready"}),
                       "503": _json({"$ref": "#/components/schemas/Ready"}, "not ready")},
        )},
        "/metrics": {"get": _op(
            "Prometheus metrics (text format): the scrape token or an operator's session",
            security=[{"metrics_token": []}, *SESSION],
            responses={"200": {"description": "OK"},
                       "401": {"description": "No or a wrong token, not signed in"}})},
        "/api/lines": {"get": _op("Live lines, calls and SMS link (operator)", security=SESSION)},
        "/api/stats": {"get": _op("Statistics of a date range (operator)", security=SESSION)},
        "/api/stats.csv": {"get": _op("The same as CSV (admin, audit-logged)",
                                      security=SESSION)},
        "/api/try/call": {"get": _op("WebSocket of a test call through FastAGI (operator)",
                                     security=SESSION)},
        "/api/try/audio/{prompt}.wav": {"get": _op(
            "A live prompt's audio (operator)", security=SESSION, parameters=[PROMPT])},
        "/api/try/sms": {"post": _op("The reply an SMS would get (operator)",
                                     security=SESSION)},
        "/api/studio/prompts": {"get": _op("Every prompt and what callers hear (editor)",
                                           security=SESSION)},
        "/api/studio/prompts/{prompt}": {"get": _op(
            "A prompt's versions and history (editor)", security=SESSION, parameters=[PROMPT])},
        "/api/studio/prompts/{prompt}/{number}.wav": {"get": _op(
            "A version's 8 kHz audio (editor)", security=SESSION,
            parameters=[PROMPT, _param("number", "version number")])},
        "/api/studio/prompts/{prompt}/recordings": {"post": _op(
            "Upload a recording as a new draft (editor)", security=SESSION, parameters=[PROMPT])},
        "/api/studio/prompts/{prompt}/approve": {"post": _op(
            "Put a version live (editor, audit-logged)", security=SESSION, parameters=[PROMPT])},
        "/api/studio/prompts/{prompt}/rollback": {"post": _op(
            "Go back to an earlier version (editor, audit-logged)", security=SESSION,
            parameters=[PROMPT])},
    },
    "components": {
        "securitySchemes": {
            "token": {"type": "http", "scheme": "bearer",
                      "description": "settings.http.api_token (TRACUU_HTTP_API_TOKEN)"},
            "metrics_token": {"type": "http", "scheme": "bearer",
                              "description": "settings.http.metrics_token "
                              "(TRACUU_HTTP_METRICS_TOKEN)"},
            "session": {"type": "apiKey", "in": "cookie", "name": "tracuu_session",
                        "description": "A signed-in console session; writes also need the "
                        "X-CSRF-Token header"},
        },
        "schemas": {
            "Error": {"type": "object", "properties": {"error": {"type": "string"}},
                      "required": ["error"]},
            "PushResult": {"type": "object", "properties": {
                "accepted": {"type": "integer"},
                "rejected": {"type": "array", "items": {"type": "object", "properties": {
                    "index": {"type": "integer"}, "reason": {"type": "string"}}}}}},
            "Ready": {"type": "object", "properties": {
                "ready": {"type": "boolean"},
                "checks": {"type": "object", "additionalProperties": {"type": "string"}}}},
        },
    },
}  # fmt: skip


@public
async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(SPEC)
