"""Exact and MinHash near-duplicate detection settings and the deterministic clustering stage."""

from __future__ import annotations

import struct

from datatrove.data import Document
from datatrove.io import DataFolderLike, get_datafolder
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.dedup import ExactDedupConfig
from datatrove.pipeline.dedup.minhash import MinhashConfig
from datatrove.utils.binaryio import read_tuples_from_file
from datatrove.utils.text import TextNormConfig, simplify_text
from datatrove.utils.word_tokenizers import WordTokenizer

from dedup.config import CleanConfig

NORMALISATION = TextNormConfig()  # lower case, no punctuation, numbers as 0, single spaces


def normalised_text(doc: Document) -> str:
    """The text exact dedup hashes: case, punctuation, digits and spacing normalised away."""
    return simplify_text(doc.text, NORMALISATION)


# datatrove picks the hash function from the getter's return annotation, which must be the type
# itself (the module's ``from __future__ import annotations`` would make it the string "str").
normalised_text.__annotations__["return"] = str


def exact_config() -> ExactDedupConfig:
    return ExactDedupConfig(content_getter=normalised_text)


def minhash_config(config: CleanConfig) -> MinhashConfig:
    return MinhashConfig(
        n_grams=config.minhash_ngrams,
        num_buckets=config.minhash_buckets,
        hashes_per_bucket=config.minhash_hashes_per_bucket,
    )


class SpaceTokenizer(WordTokenizer):
    """Splits on spaces. MinHash tokenizes ``simplify_text`` output (already lower-cased, without
    punctuation), where spaCy's English tokenizer gives the same words ~50x slower."""

    def word_tokenize(self, text: str) -> list[str]:
        return text.split()

    def sent_tokenize(self, text: str) -> list[str]:
        return [text]

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        return [(0, len(text))]


class KeepFirstCluster(PipelineStep):
    """MinHash stage 3 with a deterministic survivor: each cluster keeps its earliest document in
    input order (file rank, then position), whatever order the duplicate pairs arrive in.

    datatrove's own stage keeps the union-by-size root, which depends on pair order. Writes the
    same ``.remove`` / ``.clusters`` / ``.sizes`` files, so ``MinhashDedupFilter`` reads them.
    Cluster ids are the survivor's position in the sorted survivor list (stable across runs).
    """

    type = "🫂 - DEDUP"
    name = "🎯 MinHash stage 3 (keep first)"

    def __init__(self, input_folder: DataFolderLike, output_folder: DataFolderLike, num_buckets: int) -> None:
        super().__init__()
        self.input_folder = get_datafolder(input_folder)
        self.output_folder = get_datafolder(output_folder)
        self.num_buckets = num_buckets

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        if world_size != 1:
            raise ValueError("clustering runs as a single task")
        parent: dict[tuple[int, int], tuple[int, int]] = {}

        def find(node: tuple[int, int]) -> tuple[int, int]:
            root = node
            while parent.get(root, root) != root:
                root = parent[root]
            while parent.get(node, node) != root:  # path compression
                parent[node], node = root, parent[node]
            return root

        with self.track_time():
            for dup_file in self.input_folder.list_files(glob_pattern="*.dups"):
                with self.input_folder.open(dup_file, "rb") as pairs:
                    for f1, d1, f2, d2 in read_tuples_from_file(pairs, "4I"):
                        a, b = find((f1, d1)), find((f2, d2))
                        parent.setdefault(a, a)
                        parent.setdefault(b, b)
                        if a != b:
                            low, high = min(a, b), max(a, b)
                            parent[high] = low
            members = sorted(parent)
            roots = {node: find(node) for node in members}
            sizes: dict[tuple[int, int], int] = {}
            for root in roots.values():
                sizes[root] = sizes.get(root, 0) + 1
            cluster_ids = {root: i for i, root in enumerate(sorted(sizes))}
            with self.output_folder.get_output_file_manager(mode="wb") as out:
                for node in members:
                    file, doc = node
                    root = roots[node]
                    self.stat_update("in_clusters")
                    out.write(f"{file:06d}.remove", b"")  # exists even when the file keeps all
                    if node != root:
                        out.write(f"{file:06d}.remove", struct.pack("<I", doc))
                        self.stat_update("to_remove")
                    out.write(f"{file:06d}.clusters", struct.pack("<II", doc, cluster_ids[root]))
                    out.write(f"{file:06d}.sizes", struct.pack("<II", doc, sizes[root]))
            self.stat_update("clusters", value=len(sizes))
