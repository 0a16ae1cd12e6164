"""The prompt history's lines in Vietnamese, for the staff who read them.

The version store (prompts/versions.py) logs each step as "<at> <who>: <what>"
with a fixed English `what` ("imported v2", "approved v2", "rolled back to v0",
"placeholder rendered"): stored data that older manifests already hold. The
studio and `tracuu prompts versions` show it through `in_words`, so what staff
read is Vietnamese whatever the store keeps. Pure.
"""

from __future__ import annotations

import re

_VERSION = r"v(\d+)"
_STEPS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(rf"imported {_VERSION}"), "nhập bản thu v{n} (bản nháp)"),
    (re.compile(rf"approved {_VERSION}"), "duyệt v{n}: người gọi nghe bản này"),
    (re.compile(r"rolled back to v0"), "quay lại giọng máy (v0)"),
    (re.compile(rf"rolled back to {_VERSION}"), "quay lại v{n}"),
    (re.compile(r"placeholder rendered"), "tạo giọng máy tạm (v0)"),
)


def step_in_words(what: str) -> str:
    """One step ('approved v2') in Vietnamese; a step not known here as it was logged."""
    for pattern, words in _STEPS:
        found = pattern.fullmatch(what.strip())
        if found:
            return words.format(n=found.group(1) if found.groups() else "")
    return what


def in_words(entry: str) -> tuple[str, str]:
    """'<at> <who>: <what>' -> (at as logged, '<who>: <what in Vietnamese>')."""
    at, _, rest = entry.partition(" ")
    who, colon, what = rest.rpartition(": ")
    if not colon:
        return at, step_in_words(rest)
    return at, f"{who}: {step_in_words(what)}"
