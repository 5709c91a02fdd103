"""The cleaning and dedup steps one by one, on excerpts of the real sample data."""

import gzip
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from datatrove.data import Document

from benchmarks.book_editions import ILLUSTRATED, other_edition, paired_chunks
from dedup.books import (
    chunk_paragraphs,
    clean_book,
    is_chapter_heading,
    split_paragraphs,
    strip_edition_noise,
)
from dedup.content import ContentFilter, ContentScorer, load_digests, word_digest
from dedup.decontaminate import Decontaminate
from dedup.language import LanguageFilter
from dedup.minhash import DedupView, FastMinhashSignature, minhash_config
from dedup.pii import PIIScrubber
from dedup.threads import RedditCommentFilter, ThreadBuilder
from dedup.web import HtmlExtraction, OfflineURLFilter, html_payload
from foundation.settings import CleanConfig

WORDLISTS = Path(__file__).resolve().parent.parent / "dedup" / "wordlists"


def _doc(text: str, **metadata) -> Document:
    return Document(text=text, id="t", metadata=metadata)


def test_pii_scrubber_replaces_emails_public_ips_and_phones() -> None:
    text = (
        "Mail bob@example.net or call (555) 123-4567 / +44 20 7946 0958 from 8.8.8.8, not 10.0.0.1 in 1999."
    )
    out = PIIScrubber().format(text)
    assert "bob@example.net" not in out and "8.8.8.8" not in out
    assert out.count("<PHONE>") == 2
    assert "10.0.0.1" in out and "1999" in out  # private IPs and years are no PII


def test_word_lists_are_stored_hashed_not_as_words() -> None:
    for path in WORDLISTS.glob("*.txt"):
        entries = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
        assert entries and all(len(e) == 16 and int(e, 16) >= 0 for e in entries), path
    assert word_digest("fuck") in load_digests("profanity")


def test_content_filter_threshold_per_source_and_slurs_always(monkeypatch: pytest.MonkeyPatch) -> None:
    sweary = "well shit, this is a damn fine day and I mean it " * 3
    assert ContentFilter(max_ratio=0.01).filter(_doc(sweary)) == (False, "profanity")
    assert ContentFilter(max_ratio=0.1).filter(_doc(sweary)) is True
    # a stand-in slur (its digest added to the slur list) drops at any threshold
    scorer = ContentScorer()
    scorer.slurs = scorer.slurs | {word_digest("zorblax")}
    monkeypatch.setattr("dedup.content.shared_scorer", lambda: scorer)
    assert ContentFilter(max_ratio=1.0).filter(_doc("a long and friendly zorblax sentence")) == (
        False,
        "slur",
    )


def test_language_filter_on_real_crawl_documents(data_root: Path) -> None:
    path = data_root / "web/dolma_cc_2019_30/CC-MAIN-20190717121559-20190717143559-00140.jsonl.gz"
    with gzip.open(path, "rt") as lines:
        docs = [_doc(json.loads(line)["text"]) for _, line in zip(range(60), lines, strict=False)]
    english, other = LanguageFilter("en"), LanguageFilter("de")
    kept = [d for d in docs if english.filter(d) is True]
    assert 5 < len(kept) < len(docs)  # the crawl excerpt is mixed-language
    assert all(d.metadata["language"] == "en" for d in kept)
    assert all(other.filter(d) != True for d in kept)  # noqa: E712 - the language is a setting


def test_url_blocklist_is_offline_and_blocks_adult_domains() -> None:
    urls = OfflineURLFilter()
    assert urls.filter(_doc("x", url="https://www.pornhub.com/view")) == (False, "domain")
    assert urls.filter(_doc("x", url="https://en.wikipedia.org/wiki/Whale")) is True
    assert urls.filter(_doc("x")) is True  # no URL: passes, counted


def test_html_extraction_only_for_markup(data_root: Path) -> None:
    html = (
        "<html><body><article><p>"
        + "The whale surfaced near the boat. " * 20
        + "</p></article></body></html>"
    )
    assert html_payload(_doc(html, content_type="text/html")) == html
    assert html_payload(_doc("Plain text page.", content_type="text/html")) is None
    step = HtmlExtraction()
    docs = list(
        step.run(
            iter(
                [
                    _doc(html, content_type="text/html"),
                    _doc("<html><body></body></html>", content_type="text/html"),
                ]
            )
        )
    )
    assert len(docs) == 1 and docs[0].text.startswith("The whale surfaced") and "<p>" not in docs[0].text
    assert step.stats["dropped_extraction_empty"].total == 1


def test_books_front_matter_and_chunk_sizes(data_root: Path) -> None:
    full = (data_root / "books/gutenberg_full/books__158-0.txt").read_text(encoding="utf-8-sig")
    nltk = (data_root / "books/nltk_gutenberg/austen-emma.txt").read_text(encoding="utf-8")
    a, removed_a = clean_book(full)
    b, _ = clean_book(nltk)
    assert "Project Gutenberg" not in a and "Produced by" not in a and removed_a >= 1
    assert "[Emma by Jane Austen 1816]" not in b
    assert "comfortable home and happy disposition" in a and "comfortable home and happy disposition" in b
    sizes = [
        len(re.sub(r"[^a-z0-9]", "", "".join(c).lower()))
        for c in chunk_paragraphs(split_paragraphs(a), 6000, 20000)
    ]
    assert min(sizes[:-1]) >= 6000 and max(sizes) < 20000 + 6000  # a paragraph or short tail past the cap


def test_edition_noise_is_removed_wherever_it_stands() -> None:
    text = (
        "It was a fine day.\n\n[Illustration:\n\n\u201cHe came down to see the place\u201d\n\n"
        "[_Copyright 1894 by George Allen._]]\n\nShe smiled. [Illustration] And left.\n\n"
        "[_Copyright 1894 by George Allen._]\n\nCopyright 1894 by George Allen.\n\n"
        "The end [Illustration: never closed"
    )
    assert strip_edition_noise(text).split("\n\n") == [
        "It was a fine day.",
        "",
        "She smiled.  And left.",
        "",
        "The end [Illustration: never closed",  # unbalanced: left alone rather than eat the book
    ]


def test_chapter_headings_in_every_style() -> None:
    for heading in (
        "CHAPTER I.",
        "Chapter 1",
        "CHAPTER 1. Loomings.",
        "CHAPTER XII\nThe Title",
        "STAVE ONE",
        "XII.",
        "12",
        "PART ONE--The Old Buccaneer",
        "PREFACE.",
        "Letter 4",
        "BOOK THE FIRST",
    ):
        assert is_chapter_heading(heading), heading
    for paragraph in ("Part of it was true.", "Mix.", "Chapter and verse, he said, all of it.", "1851"):
        assert not is_chapter_heading(paragraph), paragraph


@pytest.mark.parametrize(
    ("name", "first", "second"),
    [
        (
            "Sense and Sensibility, two real editions",
            "gutenberg_full/books__pg161.txt",
            "nltk_gutenberg/austen-sense.txt",
        ),
        (
            "Pride and Prejudice, an illustrated edition",
            "gutenberg_full/books__Pride_and_Prejudice_JaneAusten.txt",
            None,
        ),
    ],
)
def test_other_editions_pair_chunk_for_chunk(
    data_root: Path, name: str, first: str, second: str | None
) -> None:
    """At least 90% of the second edition's chunks have a chunk of the first at 5-gram Jaccard >= 0.75
    (benchmarks/dedup_quality.py measures all six editions through MinHash)."""
    read = lambda path: (data_root / "books" / path).read_text(encoding="utf-8-sig", errors="replace")  # noqa: E731
    original = read(first)
    if second:
        other = read(second)
    else:  # 71 captions, copyright lines, a list of plates, a 30k-char preface, other headings and wrapping
        sources = [read("nltk_gutenberg/chesterton-ball.txt"), read("gutenberg_full/books__76-0.txt")]
        other = other_edition(original, ILLUSTRATED, sources)
    paired, chunks = paired_chunks(original, other)
    assert paired >= 0.9 * chunks, f"{name}: {paired} of {chunks} chunks pair"


def test_reddit_filters_and_threads_on_the_real_thread(data_root: Path) -> None:
    lines = (data_root / "reddit/reddit_announcements_n49rw_thread.jsonl").read_text().splitlines()
    docs = []
    for line in lines:
        row = json.loads(line)
        text = row.get("body") or row.get("title") or ""
        docs.append(
            _doc(
                text,
                name=row["name"],
                parent_id=row.get("parent_id"),
                author=row["author"],
                score=row["score"],
            )
        )
    docs.append(
        _doc(
            "Your post was removed. I am a bot.", name="t1_bot", parent_id="t3_n49rw", author="AutoModerator"
        )
    )
    comment_filter = RedditCommentFilter(min_score=1)
    kept = [d for d in docs if comment_filter.filter(d) is True]
    assert comment_filter.filter(docs[-1]) == (False, "bot")
    assert not any("[deleted]" in d.text or "[removed]" in d.text for d in kept)
    builder = ThreadBuilder()
    paths = list(builder.run(iter(kept)))
    counters = {k: v.total for k, v in builder.stats.stats.items()}
    dropped = sum(v for k, v in counters.items() if k.startswith("dropped_"))
    assert counters["comments_in_paths"] + dropped == len(kept)  # every comment used once
    assert_dialogues(paths)
    assert any(p.text.startswith("A: We're back") for p in paths)


def assert_dialogues(paths: list[Document]) -> None:
    """Every path has two speakers or more, and no speaker follows themselves."""
    assert paths
    for path in paths:
        turns = json.loads(path.metadata["turns"])
        labels = [line.split(":", 1)[0] for line in path.text.split("\n\n") if line[:2].rstrip(":").isupper()]
        assert len(turns) >= 2 and len(set(labels)) >= 2, path.text[:200]
        assert all(a != b for a, b in zip(labels, labels[1:], strict=False)), path.text[:200]


def test_reddit_user_listing_gives_dialogues_or_nothing() -> None:
    """A /user/ listing: one author's comments, their parents mostly not in the file, some answering
    the author's own comments; a submission whose body was removed; a deleted account."""
    me = {"author": "me", "score": 3, "source_file": "reddit/user_me.json"}
    others = {"score": 2, "source_file": me["source_file"]}
    listing = [
        _doc("Replying to someone you cannot see here.", name="t1_a", parent_id="t1_gone", **me),
        _doc("And adding to my own comment.", name="t1_b", parent_id="t1_a", **me),
        _doc("Then once more, still talking to myself.", name="t1_c", parent_id="t1_b", **me),
        _doc("A lone comment on some thread.", name="t1_d", parent_id="t3_elsewhere", **me),
        _doc("What is everyone reading?\n\n[removed]", name="t3_s", parent_id=None, **me),
        _doc("Dune, again.", name="t1_e", parent_id="t3_s", **others, author="you"),
        _doc("Same here!", name="t1_f", parent_id="t1_e", **others, author="[deleted]"),
        _doc("Great choice.", name="t1_g", parent_id="t1_e", **me),
        _doc("Thanks. I'll check it out. [deleted]", name="t1_h", parent_id="t1_g", **me),
    ]
    comment_filter = RedditCommentFilter(min_score=1)
    kept = [d for d in listing if comment_filter.filter(d) is True]
    assert kept[4].text == "What is everyone reading?" and kept[-1].text == "Thanks. I'll check it out."
    builder = ThreadBuilder()
    paths = {p.id.rsplit(">", 1)[-1]: p.text for p in builder.run(iter(kept))}
    assert builder.stats["dropped_single_author"].total == 3  # a -> b -> c
    assert builder.stats["dropped_no_reply"].total == 1  # d
    # the best-scored reply chain (my two last turns merged), and the sibling reply with its parent
    assert paths == {
        "h": "A: What is everyone reading?\n\nB: Dune, again.\n\n"
        "A: Great choice.\nThanks. I'll check it out.",
        "f": "A: Dune, again.\n\nB: Same here!",
    }
    assert_dialogues(list(ThreadBuilder().run(iter(kept))))


def test_minhash_shingles_are_stable_and_normalised() -> None:
    step = FastMinhashSignature("/tmp/unused", minhash_config(CleanConfig()))
    a = step.get_shingles("The Whale, the WHALE! 1851 edition -- café")
    b = step.get_shingles("the whale the whale 1999 edition cafe")
    assert (a == b).all() and a.shape == (3, 1)  # 7 words, 5-grams
    assert step.get_shingles("too short").size == 0
    # short texts are only deduplicated exactly: a stock reply is no near-duplicate of another
    short = FastMinhashSignature("/tmp/unused", minhash_config(CleanConfig()), min_words=20)
    assert short.get_shingles("Thank you so much for this, it really helped me out").size == 0
    assert short.get_shingles(" ".join(["word"] * 20)).shape == (16, 1)


def test_decontamination_drops_shared_13_grams() -> None:
    evaluation = ["I really love spending quiet evenings at home reading books with a warm cup of tea"]
    step = Decontaminate(evaluation, n=13)
    leaked = (
        "Intro. I really love spending quiet evenings at home reading books with a warm cup of tea, she said."
    )
    assert step.filter(_doc(leaked)) == (False, "eval_overlap")
    assert step.filter(_doc("I really love spending quiet evenings at home.")) is True
    assert Decontaminate([], n=13).filter(_doc(leaked)) is True  # the hook with no datasets yet


def test_dedup_view_compares_reddit_chains_without_their_context_turn() -> None:
    context = {"id": "p", "text": "A long parent comment that several different replies answer. " * 5}
    replies = [
        "I think the answer is in the second paragraph of the article.",
        "Nope, the source says otherwise.",
    ]
    docs = [
        _doc(
            f"A: {context['text']}\n\nB: {reply}",
            turns=json.dumps([context, {"id": str(i), "text": reply}]),
            context_turns=1,
        )
        for i, reply in enumerate(replies)
    ]
    docs.append(_doc("A web page stays whole."))
    viewed = list(DedupView().run(iter(docs)))
    assert [d.text for d in viewed] == [*replies, "A web page stays whole."]


def run_script(script: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    """``script`` run by this Python from the repo root, its artifacts under ``tmp_path``."""
    repo = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(repo), "ROSIE_ARTIFACTS_DIR": str(tmp_path / "artifacts")}
    return subprocess.run(
        [sys.executable, str(script)], env=env, cwd=repo, capture_output=True, text=True, timeout=300
    )


def test_unguarded_script_stops_with_a_clear_error(tmp_path: Path) -> None:
    """A script calling the pipeline at top level (no ``__main__`` guard) fails fast, not in a loop
    of workers re-importing it."""
    script = tmp_path / "unguarded.py"
    script.write_text(
        "from dedup.ingest import ingest_file\n"
        "from dedup.layers import run_clean\n"
        "from foundation.settings import CleanConfig, Settings\n"
        "settings = Settings.from_env()\n"
        "for book in ('blake-poems.txt', 'shakespeare-caesar.txt'):  # two files: two tasks, two workers\n"
        "    ingest_file(settings, f'books/nltk_gutenberg/{book}')\n"
        "run_clean('books', settings, CleanConfig(workers=2))\n"
    )
    done = run_script(script, tmp_path)
    assert done.returncode != 0
    assert f"{script} calls the dedup pipeline" in done.stderr and 'if __name__ == "__main__":' in done.stderr


def test_pipeline_runs_in_a_step_process_started_by_multiprocessing(tmp_path: Path) -> None:
    """Dagster runs each step in a process that multiprocessing started (its ``__main__`` is
    ``__mp_main__``): a guarded caller there is not mistaken for a worker re-importing it."""
    script = tmp_path / "step_process.py"
    script.write_text(
        "import multiprocessing\n"
        "from dedup.ingest import ingest_file\n"
        "from dedup.layers import run_clean\n"
        "from foundation.settings import CleanConfig, Settings\n"
        "def step():\n"
        "    settings = Settings.from_env()\n"
        "    for book in ('blake-poems.txt', 'shakespeare-caesar.txt'):\n"
        "        ingest_file(settings, f'books/nltk_gutenberg/{book}')\n"
        "    run_clean('books', settings, CleanConfig(workers=2))\n"
        "if __name__ == '__main__':\n"
        "    process = multiprocessing.get_context('spawn').Process(target=step)\n"
        "    process.start()\n"
        "    process.join()\n"
        "    raise SystemExit(process.exitcode)\n"
    )
    done = run_script(script, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
