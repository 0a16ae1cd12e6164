"""The answered side of an outbound notification call (route "notify?id=<notification id>").

asterisk/extensions.conf [tracuu-notify] connects here once the citizen picks
up. The call says its message, offers "1 to hear it again" (at most
MAX_REPLAYS times) and says goodbye. The notification row is marked done as
soon as the citizen answers, so no retry dials them again even if they hang up
half-way. Nothing here is personal beyond what the dossier code reveals.
"""

from __future__ import annotations

import logging

from ivr.agi_wire import AgiChannel, CallerHungUp, Request, quote
from ivr.session import HANGUP_GRACE_S, SOUNDS, CallDeps
from ivr.store import IvrStore

log = logging.getLogger(__name__)

MAX_REPLAYS = 3
REPLAY_WAIT_MS = 5000


async def notification_call(
    channel: AgiChannel,
    request: Request,
    env: dict[str, str],
    deps: CallDeps,
    store: IvrStore,
) -> None:
    notify_id = request.params.get("id", "")
    now = deps.now()
    row = await store.get(notify_id) if notify_id else None
    await channel.run("ANSWER")
    prompts: tuple[str, ...] = ()
    if row is not None:
        await store.mark(notify_id, "done", now, outcome="answered")
        view = await deps.lookup.by_code(row.dossier_code)
        if view is not None:
            prompts = deps.speech.notification(view, row.kind, now.date())
    if not prompts:
        # Someone picked up a call we cannot explain any more: apologise, never silence.
        log.warning("notification %r answered but has nothing to say", notify_id)
        prompts = ("ivr_service_unavailable",)
    for _ in range(MAX_REPLAYS):
        for prompt in prompts:
            played = await channel.run(f"STREAM FILE {SOUNDS}{prompt} {quote('')}", timeout_s=60.0)
            if played.result == "-1" and await channel.hangup_follows(HANGUP_GRACE_S):
                raise CallerHungUp(f"hung up during {prompt}")
        reply = await channel.run(
            f"GET DATA {SOUNDS}ivr_notify_replay {REPLAY_WAIT_MS} 1", timeout_s=60.0
        )
        if reply.result != "1":
            break
    await channel.run(f"STREAM FILE {SOUNDS}ivr_goodbye {quote('')}", timeout_s=60.0)
    await channel.run(f"SET VARIABLE {deps.settings.next_variable} goodbye")
    if row is not None:
        await store.mark(notify_id, "done", deps.now(), outcome="heard")
