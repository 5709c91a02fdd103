"""Licence of every source the datasets read, and the switch that excludes non-commercial ones.

Sources without a stated licence count as *not* cleared for commercial use: excluding them is the
conservative reading of ``ROSIE_EXCLUDE_NONCOMMERCIAL``.
"""

from __future__ import annotations

from dataclasses import dataclass

EXCLUDE_NONCOMMERCIAL_ENV = "ROSIE_EXCLUDE_NONCOMMERCIAL"


@dataclass(frozen=True)
class SourceLicence:
    licence: str
    commercial: bool


SOURCES: dict[str, SourceLicence] = {
    "goemotions": SourceLicence("CC-BY-4.0", True),
    "dailydialog": SourceLicence("CC-BY-NC-SA-4.0", False),
    "empatheticdialogues": SourceLicence("CC-BY-NC-4.0", False),
    "isear": SourceLicence("research-use-only", False),
    "topical_chat": SourceLicence("CDLA-Sharing-1.0", True),
    "personachat": SourceLicence("unstated (Persona-Chat via ParlAI)", False),
    "chatterbot": SourceLicence("BSD-3-Clause", True),
    "overheard": SourceLicence("unstated (NLTK webtext)", False),
    "reddit": SourceLicence("unstated (Reddit user content)", False),
    # Written for this project: the templates and slot fillers in labeling/personality_templates.py.
    "rosie_templates": SourceLicence("project (authored)", True),
}


def licence_of(source: str) -> str:
    return SOURCES[source].licence


def allowed_sources(exclude_noncommercial: bool) -> set[str]:
    return {name for name, info in SOURCES.items() if info.commercial or not exclude_noncommercial}
