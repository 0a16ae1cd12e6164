"""The audit log, for every page that does something someone may ask about later.

    from console.audit import audit
    await audit(request, "prompt.approve", "apology", {"version": 3})

records the signed-in user, the client address and the time. Actions in use:
user.add, user.role, user.disable, user.enable, user.password, prompt.approve,
prompt.rollback, prompt.record, export.<what>. Admins read it at /audit.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import suppress

from aiohttp import web

from console.access import ACCOUNTS, client_of, current_user, requires
from console.layout import lang_of, render
from console.roles import Role
from messages import formats

PAGE_SIZE = 200

# What an admin reads on /audit: the action ids above are for scripts and searches, not for
# the office (Vietnamese, English). An id not listed shows as it is.
ACTION_LABELS = {
    "user.add": ("Thêm người dùng", "Added a user"),
    "user.role": ("Đổi vai trò", "Changed a role"),
    "user.disable": ("Khoá tài khoản", "Disabled an account"),
    "user.enable": ("Mở khoá tài khoản", "Enabled an account"),
    "user.password": ("Đặt lại mật khẩu", "Set a password"),
    "prompt.record": ("Thu âm lời thoại", "Recorded a prompt"),
    "prompt.approve": ("Duyệt bản thu", "Approved a recording"),
    "prompt.rollback": ("Quay lại bản trước", "Rolled a prompt back"),
    "export.stats_csv": ("Tải thống kê (CSV)", "Exported statistics (CSV)"),
    "dossiers.push": ("Hệ thống một cửa gửi hồ sơ (API)", "One-stop system pushed dossiers"),
}
DETAIL_LABELS = {
    "role": ("vai trò", "role"),
    "by": ("bởi", "by"),
    "version": ("bản", "version"),
    "prompt": ("lời thoại", "prompt"),
    "from": ("từ ngày", "from"),
    "to": ("đến ngày", "to"),
    "codes": ("mã hồ sơ", "codes"),
}
_DAYS = ("from", "to")  # stored ISO dates, read day first


def _label(labels: Mapping[str, tuple[str, str]], key: str, lang: str) -> str:
    pair = labels.get(key)
    return key if pair is None else pair[1 if lang == "en" else 0]


def _detail(key: str, value: object, lang: str) -> str:
    if key == "role":
        with suppress(ValueError):  # a role since renamed shows as recorded
            value = Role.parse(str(value)).label(lang)
    if key in _DAYS:
        value = formats.iso_day(str(value))
    return f"{_label(DETAIL_LABELS, key, lang)}: {value}"


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
    lang = await lang_of(request)
    return await render(
        request,
        "audit.html",
        {
            "entries": entries,
            "page_size": PAGE_SIZE,
            "action_label": lambda action: _label(ACTION_LABELS, action, lang),
            "details": lambda detail: "; ".join(_detail(k, v, lang) for k, v in detail.items()),
        },
    )
