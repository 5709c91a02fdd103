"""Language identification as a datatrove filter, with py3langid (its model ships inside the wheel).

datatrove's own LanguageFilter downloads a fastText model at run time; this one never downloads.
"""

from __future__ import annotations

import functools

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.writers.disk_base import DiskWriter

# Long documents are classified on a prefix: py3langid's cost grows with the text (a Python loop
# per byte) while its score settles within a few hundred words.
CLASSIFY_CHARS = 1500


@functools.cache
def _py3langid():
    """One identifier per process: loading the model takes ~1 s, and datatrove copies steps per task."""
    from py3langid.langid import MODEL_FILE
    from py3langid.langid import LanguageIdentifier as Py3LangId

    return Py3LangId.from_model_file(MODEL_FILE, norm_probs=True)


def classify_language(text: str) -> tuple[str, float]:
    """(ISO 639-1 code, probability) of ``text`` (its first CLASSIFY_CHARS characters)."""
    language, score = _py3langid().classify(text[:CLASSIFY_CHARS])
    return language, float(score)


class LanguageFilter(BaseFilter):
    """Keeps documents whose detected language is in ``languages`` with score >= ``threshold``.

    Annotates every document with ``language`` and ``language_score`` (kept or dropped, so the
    exclusion files show what was detected).
    """

    name = "🌍 Language ID (py3langid)"

    def __init__(
        self,
        languages: str | tuple[str, ...] = "en",
        threshold: float = 0.65,
        exclusion_writer: DiskWriter | None = None,
    ) -> None:
        super().__init__(exclusion_writer)
        self.languages = (languages,) if isinstance(languages, str) else tuple(languages)
        self.threshold = threshold

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        language, score = classify_language(doc.text)
        doc.metadata["language"] = language
        doc.metadata["language_score"] = round(score, 4)
        if language not in self.languages:
            return False, f"language_{language}"
        if score < self.threshold:
            return False, "language_low_score"
        return True
