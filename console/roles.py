"""Who may do what in the console: three roles, each one including the one below.

- operator: watch the board, look up dossiers, try a call or an SMS;
- prompt editor: also record, approve and roll back voice prompts;
- admin: also manage users and settings, export data, read the audit log.

Pure: no I/O.
"""

from __future__ import annotations

from enum import IntEnum


class Role(IntEnum):
    OPERATOR = 1
    EDITOR = 2
    ADMIN = 3

    @property
    def key(self) -> str:
        """The stored and typed name: operator, editor, admin."""
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown role {text!r}: operator, editor or admin") from None

    def label(self, lang: str = "vi") -> str:
        return ROLE_LABELS[self][1 if lang == "en" else 0]


ROLE_LABELS = {
    Role.OPERATOR: ("Trực tổng đài", "Operator"),
    Role.EDITOR: ("Biên tập lời thoại", "Prompt editor"),
    Role.ADMIN: ("Quản trị", "Administrator"),
}
