"""Score the SMS grammar on the corpus of real-world forms (tests/corpus/sms_forms.tsv).

A form is understood when its reply is exactly the one the corpus says it must
get (and, for opt-out/opt-in, the stored subscription changed). Prints the
overall and per-kind score, and every miss with --misses.

    .venv/bin/python bench/sms_corpus.py [--misses] [--corpus PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.corpus import runner


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--misses", action="store_true", help="print every form not understood")
    parser.add_argument("--corpus", type=Path, default=runner.CORPUS)
    args = parser.parse_args()
    forms = runner.load(args.corpus)
    with tempfile.TemporaryDirectory() as directory:
        outcomes = asyncio.run(runner.run_all(Path(directory), forms))
    total, good = Counter[str](), Counter[str]()
    for outcome in outcomes:
        total[outcome.form.kind] += 1
        good[outcome.form.kind] += outcome.ok
        if args.misses and not outcome.ok:
            form = outcome.form
            print(f"MISS line {form.line} [{form.kind}] {form.message!r}")
            print(f"  got      {outcome.reply!r} ({outcome.stored})")
            print(f"  expected {form.expected!r} {form.after}")
    understood = sum(good.values())
    print(f"understood {understood}/{len(outcomes)} = {100 * understood / len(outcomes):.1f} %")
    for kind in sorted(total):
        share = 100 * good[kind] / total[kind]
        print(f"  {kind:<12} {good[kind]:>4}/{total[kind]:<4} {share:5.1f} %")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
