"""The counter's kiosk page: no sign-in, a code in (scanner or keyboard), the public status out.

A receipt barcode scanner is a keyboard that types the code and Enter; the page
keeps its one input focused for it. The answer comes from the public look-up
(GET /api/dossiers/{code}?channel=kiosk: rate-limited per client, the public view
only, never a name or a phone) in large Vietnamese text, and the page clears
itself after RESET_S seconds for the next citizen.
"""

from __future__ import annotations

from aiohttp import web

from console.access import public
from console.layout import render

RESET_S = 10


@public
async def kiosk_page(request: web.Request) -> web.StreamResponse:
    reset = request.query.get("reset_s", "")
    reset_s = int(reset) if reset.isdigit() and 2 <= int(reset) <= 120 else RESET_S
    return await render(request, "kiosk.html", {"reset_s": reset_s})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/kiosk", kiosk_page)
