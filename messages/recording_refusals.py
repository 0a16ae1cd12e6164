"""Why a recording was refused, in Vietnamese, for the editor in the prompt studio.

prompts/audio.py and prompts/recordings.py explain a refusal in English (the
command line's and the logs' words; the prompts package is its own team's). The
studio shows the same reason to office staff, so it is put in Vietnamese here,
figures and all, with the decimal comma. tests/test_formats.py feeds this the
real refusals, so a reworded one is caught. An unknown reason stays as it was.
Pure.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from messages import formats

_NUMBER = r"(-?\d+(?:\.\d+)?)"


def _n(text: str) -> str:
    """A figure as written in the English reason, with the Vietnamese separators."""
    decimals = len(text.partition(".")[2])
    return formats.number(float(text), decimals)


_RULES: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    (
        re.compile(rf"too long: more than {_NUMBER} s"),
        lambda m: f"quá dài: hơn {_n(m[1])} giây (giới hạn cho một lời thoại)",
    ),
    (
        re.compile(r"silent: there is no sound at all"),
        lambda m: "không có tiếng: tệp hoàn toàn im lặng; hãy kiểm tra micrô và thu lại",
    ),
    (
        re.compile(
            rf"silent: the loudest point is {_NUMBER} dBFS \(a voice needs more than "
            rf"{_NUMBER}\)"
        ),
        lambda m: (
            f"tiếng quá nhỏ: chỗ to nhất chỉ {_n(m[1])} dBFS (giọng nói cần trên "
            f"{_n(m[2])} dBFS); hãy kiểm tra micrô và thu lại"
        ),
    ),
    (
        re.compile(rf"clipped: {_NUMBER}% of the samples"),
        lambda m: (
            f"tiếng bị vỡ (rè): {_n(m[1])} % số mẫu chạm mức tối đa; hãy thu lại, "
            "để micrô xa hơn hoặc giảm độ nhạy thu"
        ),
    ),
    (
        re.compile(rf"too short: {_NUMBER} s of voice \(needs at least {_NUMBER} s\)"),
        lambda m: f"quá ngắn: chỉ có {_n(m[1])} giây tiếng nói (cần ít nhất {_n(m[2])} giây)",
    ),
    (
        re.compile(r"not a readable audio file: it has no sound track"),
        lambda m: "không phải tệp âm thanh đọc được: tệp không có phần tiếng",
    ),
    (
        re.compile(r"not a readable audio file"),
        lambda m: "không phải tệp âm thanh đọc được (WAV, MP3, M4A, OGG hoặc WebM)",
    ),
    (re.compile(r"the file is empty"), lambda m: "tệp rỗng (0 byte)"),
    (
        re.compile(rf"the file is {_NUMBER} MB; the limit is {_NUMBER} MB"),
        lambda m: f"tệp nặng {_n(m[1])} MB; giới hạn là {_n(m[2])} MB",
    ),
)


def in_words(reason: str) -> str:
    """The refusal in Vietnamese; a reason not known here as it was given."""
    for pattern, words in _RULES:
        found = pattern.match(reason)
        if found:
            return words(found)
    return reason
