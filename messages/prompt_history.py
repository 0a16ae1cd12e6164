"""The prompt history's lines, and why a version cannot go live, in Vietnamese.

The version store (prompts/versions.py) logs each step as "<at> <who>: <what>"
with a fixed English `what` ("imported v2", "approved v2", "rolled back to v0",
"placeholder rendered"): stored data that older manifests already hold. The
studio and `tracuu prompts versions` show it through `in_words`, so what staff
read is Vietnamese whatever the store keeps. `refusal_in_words` does the same for
the version rules' refusals (prompts/versions.py: approve, rollback). Pure.
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


_REFUSALS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(\S+) has no version (\d+)"), "lời thoại {0} không có bản v{1}"),
    (
        re.compile(r"version (\d+) is the TTS placeholder; use rollback to go back to it"),
        "v{0} là giọng máy tạm: dùng «Quay lại» để trở về bản này",
    ),
    (
        re.compile(r"version (\d+) of (\S+) is already live"),
        "v{0} của {1} đang được phát cho người gọi",
    ),
    (
        re.compile(r"version (\d+) is newer than the live one \(v(\d+)\); approve it"),
        "v{0} mới hơn bản đang phát (v{1}): hãy nghe rồi duyệt bản này",
    ),
    (
        re.compile(r"version (\d+) was never approved; listen to it and approve it instead"),
        "v{0} chưa từng được duyệt: hãy nghe rồi duyệt bản này",
    ),
)


def refusal_in_words(reason: str) -> str:
    """Why a version cannot go live, in Vietnamese; an unknown reason as it was given."""
    for pattern, words in _REFUSALS:
        found = pattern.fullmatch(reason.strip())
        if found:
            return words.format(*found.groups())
    return reason
