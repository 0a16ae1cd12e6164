"""The audit log, for every page that does something someone may ask about later.

    from console.audit import audit
    await audit(request, "prompt.approve", "apology", {"version": 3})

records the signed-in user, the client address and the time. Actions in use:
user.add, user.role, user.disable, user.enable, user.password, prompt.approve,
prompt.rollback, prompt.record, export.<what>. Admins read it at /audit.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from console.access import ACCOUNTS, client_of, current_user, requires
from console.layout import render
from console.roles import Role

PAGE_SIZE = 200


async def audit(
    request: web.Request, action: str, target: str, detail: Mapping[str, object] | None = None
) -> None:
    """Record that the request's user did `action` on `target`."""
    user = current_user(request)
    actor = user.name if user is not None else "-"
    await request.app[ACCOUNTS].audit(actor, action, target, detail, client_of(request))


@requires(Role.ADMIN)
async def audit_page(request: web.Request) -> web.StreamResponse:
    before = request.query.get("before")
    before_id = int(before) if before and before.isdigit() else None
    entries = await request.app[ACCOUNTS].audit_log(PAGE_SIZE, before_id)
    return await render(request, "audit.html", {"entries": entries, "page_size": PAGE_SIZE})
