"""Web-only steps: HTML extraction with Trafilatura and the URL blocklist, both through datatrove."""

from __future__ import annotations

import re
import tarfile
from pathlib import Path

import numpy as np
import xxhash
from datatrove.data import Document, DocumentsPipeline
from datatrove.io import safely_create_file
from datatrove.pipeline.extractors import Trafilatura
from datatrove.pipeline.extractors.base import ExtractorSandbox
from datatrove.pipeline.filters import URLFilter
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.filters.url_filter import get_list
from datatrove.pipeline.writers.disk_base import DiskWriter
from datatrove.utils._import_utils import ASSETS_PATH
from huggingface_hub import cached_assets_path

from foundation.atomic import atomic_path

_MARKUP = re.compile(r"<\s*(!doctype|html|head|body|div|p|span|a|table|meta|script|title)\b", re.I)
_SNIFF_CHARS = 10_000


def html_payload(doc: Document) -> str | None:
    """The raw HTML of a web record, or None when the record already holds plain text.

    Ingest keeps a WARC response's HTML as the text, with the HTTP content type in the metadata.
    Records typed ``text/html`` whose text carries no markup (Common Crawl JSONL documents keep
    their page's content type but were extracted upstream) are plain text too.
    """
    for key in ("html", "raw_html"):
        if doc.metadata.get(key):
            return doc.metadata[key]
    content_type = str(doc.metadata.get("content_type") or "").lower()
    if "html" in content_type and _MARKUP.search(doc.text[:_SNIFF_CHARS]):
        return doc.text
    return None


class HtmlExtraction(BaseFilter):
    """Trafilatura (datatrove's extractor, in its timeout sandbox) for HTML records.

    Plain-text records pass through untouched. Records that time out, fail, or yield no text go
    to the exclusion writer with reason ``extraction_timeout`` / ``extraction_error`` /
    ``extraction_empty`` (datatrove's extractor drops them silently).
    """

    name = "⛏ Trafilatura"

    def __init__(self, timeout: float = 5.0, exclusion_writer: DiskWriter | None = None) -> None:
        super().__init__(exclusion_writer)
        self.extractor = Trafilatura(favour_precision=True, timeout=timeout)
        self._sandbox: ExtractorSandbox | None = None

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        with ExtractorSandbox(timeout=self.extractor.timeout, warmup_text="") as sandbox:
            self._sandbox = sandbox
            yield from super().run(data, rank, world_size)
        self._sandbox = None

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        html = html_payload(doc)
        if html is None:
            self.stat_update("plain_text")
            return True
        try:
            text = self._sandbox.process_document(html, self.extractor.extract)
        except TimeoutError:
            return False, "extraction_timeout"
        except Exception as error:  # noqa: BLE001 - a broken page must not stop the run
            doc.metadata["extraction_error"] = repr(error)[:200]
            return False, "extraction_error"
        for key in ("html", "raw_html"):
            doc.metadata.pop(key, None)
        doc.text = text or ""
        if not doc.text.strip():
            return False, "extraction_empty"
        self.stat_update("extracted")
        return True


class HashedDomainSet:
    """Membership in datatrove's 4.5M-domain blocklist from a sorted array of 64-bit hashes.

    A Python set of the domains costs ~5 s and ~0.5 GB in every worker process; the array is
    built once per machine (``domains.xxh64.npy`` beside the extracted list), loads in
    milliseconds and takes 36 MB.
    """

    def __init__(self, hashes: np.ndarray, extra: set[str]) -> None:
        self.hashes = hashes
        self.extra = extra

    @classmethod
    def load(cls, domains_file: Path, extra: set[str]) -> HashedDomainSet:
        index_file = domains_file.with_name(domains_file.name + ".xxh64.npy")
        if not index_file.exists():
            with open(domains_file, encoding="utf-8") as lines:
                hashes = np.fromiter(
                    (
                        xxhash.xxh64_intdigest(line.strip())
                        for line in lines
                        if line.strip() and line[0] != "#"
                    ),
                    dtype=np.uint64,
                )
            with atomic_path(index_file) as tmp, open(tmp, "wb") as out:
                np.save(out, np.unique(hashes))
        return cls(np.load(index_file, mmap_mode="r"), extra)

    def __contains__(self, domain: object) -> bool:
        if not domain:
            return False
        if domain in self.extra:
            return True
        key = np.uint64(xxhash.xxh64_intdigest(str(domain)))
        position = int(np.searchsorted(self.hashes, key))
        return position < len(self.hashes) and self.hashes[position] == key


class OfflineURLFilter(URLFilter):
    """datatrove's URL filter (blocklists bundled in its wheel, adult domains included) with
    tldextract on its bundled public-suffix snapshot, so nothing is fetched at run time.

    Extra blocked domains come from ``extra_domains``; records without a URL pass (counted).
    """

    name = "😈 URL blocklist"

    def __init__(self, extra_domains: list[str] | None = None, exclusion_writer: DiskWriter | None = None):
        super().__init__(extra_domains=extra_domains, exclusion_writer=exclusion_writer)
        from tldextract import TLDExtract

        self.tldextractor = TLDExtract(suffix_list_urls=(), cache_dir=None)

    def download_data(self) -> None:
        """datatrove's list loading, with the domain list as a :class:`HashedDomainSet`."""
        if self._downloaded or not self.use_integrated_lists:
            return
        folder = Path(
            cached_assets_path(library_name="datatrove", namespace="filters", subfolder="url_filter")
        )

        def extract() -> None:
            with tarfile.open(Path(ASSETS_PATH) / "url_filterblacklistsv0_3_0.tar.gz", "r:gz") as tar:
                tar.extractall(folder, filter="data")

        safely_create_file(str(folder / "url_filterblacklistsv0_3_0.tar.gz"), extract)
        self.block_listed_domains = HashedDomainSet.load(folder / "domains", set(self.block_listed_domains))
        self.block_listed_url = get_list(str(folder), "urls", self.block_listed_url, do_normalize=False)
        self.banned_words = get_list(ASSETS_PATH, "banned_words.txt", self.banned_words)
        self.banned_subwords = get_list(ASSETS_PATH, "banned_subwords.txt", self.banned_subwords)
        self.soft_banned_words = get_list(ASSETS_PATH, "soft_banned_words.txt", self.soft_banned_words)
        for word in self.banned_subwords:
            self.banned_subwords_automaton.add_word(word, len(self.banned_subwords_automaton))
        self.banned_subwords_automaton.make_automaton()
        self._downloaded = True

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if not doc.metadata.get("url"):
            self.stat_update("no_url")
            return True
        return super().filter(doc)
