"""The resilience record's figures (docs/reliability.md), measured on loopback peers.

    .venv/bin/python bench/faults_bench.py                 # every scenario, full length
    .venv/bin/python bench/faults_bench.py pg-restart kill # some of them
    .venv/bin/python bench/faults_bench.py --smoke         # short, to see that it runs

Scenarios (tests/fault_scenarios.py, which the tests run shorter):
  smsc-drop   the SMSC aborts the TCP connection at the 40th submit of 300 messages
  kill        one of two `tracuu serve` on one PostgreSQL SIGKILLed mid-batch of 1,000
  pg-restart  PostgreSQL stopped 10 s during calls, texts and a queued batch
  pg-freeze   the same with the server frozen (SIGSTOP) 10 s: nothing refused, nothing answers
  agi-cuts    300 FastAGI calls closed at random points
  burst       ten times the normal SMS rate (2/s -> 20/s) against a strict 20-TPS SMSC
Each prints one JSON line of figures. Needs PostgreSQL's server binaries (Debian's
postgresql package, as scripts/bootstrap installs for the tests).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import functools
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests import fault_scenarios as scenarios
from tests.peers import postgres
from tests.peers.fleet import fresh_schema


async def smsc_drop(tmp: Path, smoke: bool) -> dict[str, Any]:
    from peers.smsc import Personality
    from tests.peers.smsc import sms_world

    total = 60 if smoke else 300
    async with sms_world(tmp, Personality(drop_at=40, submit_delay_s=0.002), window=10) as world:
        for i in range(total):
            await world.pump.send("84987000111", f"tin {i}", kind="test")
        await world.smsc.wait_for(
            lambda: (
                {s.text for s in world.smsc.record.submits} >= {f"tin {i}" for i in range(total)}
            ),
            60,
        )
        counts = collections.Counter(s.text for s in world.smsc.record.submits)
        outbox = world.outbox()
        try:
            uncertain = int(
                outbox._conn.fetchval("SELECT count(*) FROM sms_part WHERE uncertain = 1")
            )
        finally:
            outbox.close()
    return {
        "messages": total,
        "lost": total - len(counts),
        "duplicated": sum(1 for n in counts.values() if n > 1),
        "uncertain": uncertain,
        "connections": world.smsc.record.connections,
    }


def _figures(f: scenarios.Figures) -> dict[str, Any]:
    out: dict[str, Any] = dict(f.notes)
    if f.mt_total:
        out.update(mt=f.mt_total, mt_lost=f.mt_lost, mt_duplicated=f.mt_duplicated,
                   mt_uncertain=f.mt_uncertain)  # fmt: skip
    return out


async def pg_restart(tmp: Path, smoke: bool, freeze: bool = False) -> dict[str, Any]:
    down_s = 3.0 if smoke else 10.0
    f = await scenarios.pg_restart(tmp, down_s=down_s, mt=60 if smoke else 200, freeze=freeze)
    down, up = float(f.notes["down_at_s"]), float(f.notes["up_at_s"])
    during = f.calls_between(down, up)
    after = f.calls_between(up, 1e9)
    waits = [c.wait_s for c in during if c.wait_s is not None]
    out = _figures(f)
    out.update(
        calls=len(f.calls),
        calls_during=len(during),
        during_outcomes=dict(collections.Counter(c.outcome for c in during)),
        sorry_wait_max_s=round(max(waits), 3) if waits else None,
        after_outcomes=dict(collections.Counter(c.outcome for c in after)),
        first_status_after_up_s=next(
            (round(c.at_s - up, 2) for c in after if c.outcome == "status"), None
        ),
        texts=len(f.texts),
        texts_redelivered=sum(1 for t in f.texts if t.tries > 1),
        most_tries=max((t.tries for t in f.texts), default=0),
        replies_per_text=dict(collections.Counter(f.replies.values())),
    )
    return out


async def _on_server(name: str, work: Any) -> dict[str, Any]:
    with postgres.server(54390 + os.getpid() % 100) as server:
        url = await fresh_schema(server, name)
        return _figures(await work(url))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    every = ["smsc-drop", "kill", "pg-restart", "pg-freeze", "agi-cuts", "burst"]
    parser.add_argument("scenarios", nargs="*", default=every)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    smoke = args.smoke
    for name in args.scenarios:
        tmp = Path(tempfile.mkdtemp(prefix=f"faults-{name}-"))
        started = time.monotonic()
        if name == "smsc-drop":
            figures = await smsc_drop(tmp, smoke)
        elif name in ("pg-restart", "pg-freeze"):
            figures = await pg_restart(tmp, smoke, freeze=name == "pg-freeze")
        elif name == "kill":
            mt = 300 if smoke else 1000
            figures = await _on_server(
                "kill", functools.partial(scenarios.gateway_kill, tmp, mt=mt)
            )
        elif name == "agi-cuts":
            calls = 60 if smoke else 300
            figures = await _on_server(
                "cuts", functools.partial(scenarios.agi_cuts, tmp, calls=calls)
            )
        elif name == "burst":
            seconds = 3.0 if smoke else 10.0
            figures = await _on_server(
                "burst", functools.partial(scenarios.sms_burst, tmp, seconds=seconds)
            )
        else:
            parser.error(f"unknown scenario {name}")
        figures["scenario"] = name
        figures["run_s"] = round(time.monotonic() - started, 1)
        print(json.dumps(figures, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
