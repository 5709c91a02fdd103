"""PII scrubbing: datatrove's email and public-IP replacement, plus phone numbers."""

from __future__ import annotations

import re

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.formatters import PIIFormatter
from datatrove.pipeline.formatters.pii import PIIReplacer
from datatrove.utils.typeshelper import StatHints

PHONE_REPLACEMENT = "<PHONE>"
# North-American and international numbers with separators: +44 20 7946 0958, (555) 123-4567,
# 555.123.4567, 020-7946-0958. Bare digit runs (years, ISBNs, prices) are left alone: a match
# needs at least two separator-delimited groups and 9-15 digits in all.
PHONE_REGEX = (
    r"(?<![\w+.-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?|\d{2,4}[ .-])"
    r"\d{2,4}[ .-]\d{3,4}(?:[ .-]\d{2,4})?(?![\w-]|\.\d)"
)


_DIGIT_RUN = re.compile(r"\d[\d ().-]{6}")  # seven characters of digits and separators
_DOTTED_QUAD = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")


def _plausible_phone(match: str) -> bool:
    digits = sum(c.isdigit() for c in match)
    # an IP address (private ones are kept on purpose, public ones were already replaced) is no phone
    return 9 <= digits <= 15 and not _DOTTED_QUAD.fullmatch(match)


class PIIScrubber(PIIFormatter):
    """Replaces emails, public IP addresses and phone numbers; counts documents it changed."""

    name = "📞 PII (email, IP, phone)"

    def __init__(self, remove_phones: bool = True) -> None:
        super().__init__()
        self.remove_phones = remove_phones
        self.phone_replacer = PIIReplacer(PHONE_REGEX, PHONE_REPLACEMENT, validator=_plausible_phone)

    def format(self, text: str) -> str:
        # Cheap gates first: the full patterns are slow to scan over a book and rarely match.
        if self.remove_emails and "@" in text:
            text = self.emails_replacer.replace(text)
        if _DIGIT_RUN.search(text):
            if self.remove_ips:
                text = self.ip_replacer.replace(text)
            if self.remove_phones:
                text = self.phone_replacer.replace(text)
        return text

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc in data:
            self.stat_update(StatHints.total)
            with self.track_time():
                scrubbed = self.format(doc.text)
            if scrubbed != doc.text:
                self.stat_update("scrubbed")
                doc.text = scrubbed
            yield doc
