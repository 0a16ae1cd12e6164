"""The admins' page of console accounts: add, change the role, disable, reset a password.

Every change is in the audit log. The last enabled admin cannot be disabled or
lose the role, so the console never locks its own owners out.
"""

from __future__ import annotations

from aiohttp import web

from console.access import ACCOUNTS, current_user, requires
from console.accounts import NoSuchUser, UserExists, check_name
from console.audit import audit
from console.layout import render
from console.passwords import WeakPassword
from console.roles import Role
from console.signin import PASSWORDS

MAX_FIELD = 256


async def _page(
    request: web.Request, *, error: str | None = None, notice: str | None = None, status: int = 200
) -> web.Response:
    users = await request.app[ACCOUNTS].users()
    return await render(
        request,
        "users.html",
        {"users": users, "roles": list(Role), "error": error, "notice": notice},
        status=status,
    )


@requires(Role.ADMIN)
async def users_page(request: web.Request) -> web.StreamResponse:
    return await _page(request)


def _role(value: object) -> Role:
    return Role.parse(str(value))


@requires(Role.ADMIN)
async def add_user(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    try:
        name = check_name(str(form.get("name", ""))[:MAX_FIELD])
        role = _role(form.get("role", ""))
        hashed = await request.app[PASSWORDS].hash(str(form.get("password", ""))[:MAX_FIELD])
        await request.app[ACCOUNTS].add_user(name, role, hashed)
    except (ValueError, WeakPassword, UserExists) as exc:
        return await _page(request, error=str(exc), status=400)
    await audit(request, "user.add", name, {"role": role.key})
    return await _page(request, notice=f"Đã thêm tài khoản {name}.")


async def _would_leave_no_admin(request: web.Request, name: str) -> bool:
    accounts = request.app[ACCOUNTS]
    found = await accounts.by_name(name)
    if found is None:
        return False
    user = found[0]
    return user.role == Role.ADMIN and not user.disabled and await accounts.count_admins() <= 1


@requires(Role.ADMIN)
async def change_user(request: web.Request) -> web.StreamResponse:
    """One form per row: role, enable/disable or a new password."""
    name = request.match_info["name"]
    form = await request.post()
    what = str(form.get("what", ""))
    accounts = request.app[ACCOUNTS]
    try:
        if what == "role":
            role = _role(form.get("role", ""))
            if role != Role.ADMIN and await _would_leave_no_admin(request, name):
                return await _page(request, error="Phải còn ít nhất một quản trị.", status=400)
            await accounts.set_role(name, role)
            await audit(request, "user.role", name, {"role": role.key})
            notice = f"Đã đổi vai trò của {name}."
        elif what in ("disable", "enable"):
            if what == "disable" and await _would_leave_no_admin(request, name):
                return await _page(request, error="Phải còn ít nhất một quản trị.", status=400)
            await accounts.set_disabled(name, what == "disable")
            await audit(request, f"user.{what}", name)
            notice = f"Đã khoá {name}." if what == "disable" else f"Đã mở khoá {name}."
        elif what == "password":
            hashed = await request.app[PASSWORDS].hash(str(form.get("password", ""))[:MAX_FIELD])
            await accounts.set_password(name, hashed)
            me = current_user(request)
            await audit(request, "user.password", name, {"by": me.name if me else "-"})
            notice = f"Đã đặt mật khẩu mới cho {name}."
        else:
            return await _page(request, error="Yêu cầu không hợp lệ.", status=400)
    except (ValueError, WeakPassword, NoSuchUser) as exc:
        return await _page(request, error=str(exc), status=400)
    return await _page(request, notice=notice)
