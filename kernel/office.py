"""The office and the agencies it answers for: settings sections every component reads.

Here, not in gateway/, because lookup (agency names), messages (the office's
name and collection place), voice and SMS all read them, and a component must
not import the composition root.
"""

from __future__ import annotations

from kernel.section import Section


class Agency(Section):
    """An agency whose dossiers this switchboard answers for."""

    id: str  # the agency identifier at the front of its dossier codes, e.g. 000.00.18.H26
    name: str  # as citizens know it, e.g. "UBND phường Cửa Nam"


class OfficeSettings(Section):
    """The one-stop office, as messages name it."""

    name: str = "Bộ phận Một cửa UBND phường"
    address: str = ""
    # Where results are collected unless a dossier says otherwise.
    collection_place: str = "Bộ phận Một cửa"
    # Shown in reminders ("giờ làm việc"); the IVR's transfer hours are in ivr settings.
    hours: str = "Thứ Hai đến Thứ Sáu, 7 giờ 30 đến 17 giờ"
