"""The corpus of real-world SMS forms (tests/corpus/sms_forms.tsv): each gets its exact reply.

One table test a form, all run against one SQLite dossier file (tests/corpus/runner.py);
`bench/sms_corpus.py` prints the same outcome as a score per kind.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from tests.corpus import runner

pytestmark = pytest.mark.no_store

FORMS = runner.load()


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[int, runner.Outcome]:
    directory = tmp_path_factory.mktemp("corpus")
    done = asyncio.run(runner.run_all(Path(directory), FORMS))
    return {outcome.form.line: outcome for outcome in done}


def test_the_corpus_is_large_and_covers_every_kind() -> None:
    kinds = Counter(form.kind for form in FORMS)
    assert len(FORMS) >= 300
    assert {"opt_out", "opt_in", "keypad", "secret", "separators", "question", "template",
            "duplicate", "guidance", "not_refusal"} <= set(kinds)  # fmt: skip
    assert min(kinds.values()) >= 8, kinds


@pytest.mark.parametrize("form", FORMS, ids=[f"{f.line}-{f.kind}" for f in FORMS])
def test_form_gets_its_reply(form: runner.Form, outcomes: dict[int, runner.Outcome]) -> None:
    outcome = outcomes[form.line]
    assert outcome.reply == form.expected, form.message
    if form.after:
        assert outcome.stored == form.after, form.message
