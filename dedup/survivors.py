"""Which document of a duplicate group survives: a function of the documents alone.

Every exact-duplicate group and every MinHash cluster keeps the document with the smallest
:func:`survivor_key`: first its source's rank in ``SURVIVOR_SOURCE_ORDER`` (books, then web, then
reddit: a curated edition over a page that copies it, a page over a comment that pastes it), then
its id (``<source>/<path under the data root>#<record>``, ``#cNNNN`` for a book chunk), then a hash
of its text for ids that collide. Tasks, workers and the executor play no part.

datatrove names a document by (task rank, position in the task), which depends on how the files
were split over tasks. So each signature stage writes every document's key beside its signatures
(:class:`SurvivorKeys`, one ``<rank>.keys`` file per task, a line per document), and the two
stages that choose survivors (:class:`ExactSurvivors`, :class:`ClusterSurvivors`) look the keys
up. Both write the files datatrove's own filters read (``ExactDedupFilter``, ``MinhashDedupFilter``).
"""

from __future__ import annotations

import struct
from collections import defaultdict
from collections.abc import Iterable

import numpy as np
import orjson
import xxhash
from datatrove.data import Document, DocumentsPipeline
from datatrove.io import DataFolderLike, get_datafolder
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.dedup import ExactDedupConfig
from datatrove.pipeline.dedup.exact_dedup import get_sig_dtype
from datatrove.pipeline.dedup.minhash import MinhashConfig
from datatrove.utils.binaryio import read_tuples_from_file
from datatrove.utils.typeshelper import ExtensionHelperSD

SURVIVOR_SOURCE_ORDER: tuple[str, ...] = ("books", "web", "reddit")
_KEYS = ".keys"

Node = tuple[int, int]  # (task rank, position in the task): datatrove's name for a document


def survivor_key(doc: Document) -> str:
    """Sorts first for the document a duplicate group keeps (see the module docstring)."""
    source = doc.metadata.get("source")
    rank = (
        SURVIVOR_SOURCE_ORDER.index(source) if source in SURVIVOR_SOURCE_ORDER else len(SURVIVOR_SOURCE_ORDER)
    )
    return f"{rank}\t{doc.id}\t{xxhash.xxh64_hexdigest(doc.text)}"


class SurvivorKeys(PipelineStep):
    """Passes documents through and writes each one's survivor key, in order, to ``<rank>.keys``.

    Put it right before a signature step: the n-th line is then the key of the document that step
    numbers n.
    """

    type = "🫂 - DEDUP"
    name = "🔑 Survivor keys"

    def __init__(self, output_folder: DataFolderLike) -> None:
        super().__init__()
        self.output_folder = get_datafolder(output_folder)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        with self.output_folder.open(f"{rank:05d}{_KEYS}", mode="wb") as out:
            for doc in data:
                out.write(orjson.dumps(survivor_key(doc)) + b"\n")
                yield doc


def task_ranks(keys_folder: DataFolderLike) -> list[int]:
    """The ranks of a stage's tasks, from the key files its :class:`SurvivorKeys` wrote."""
    folder = get_datafolder(keys_folder)
    return sorted(int(name.removesuffix(_KEYS)) for name in folder.list_files(glob_pattern=f"*{_KEYS}"))


def read_keys(keys_folder: DataFolderLike, wanted: Iterable[Node]) -> dict[Node, str]:
    """The keys of the ``wanted`` documents (only those are held in memory)."""
    folder = get_datafolder(keys_folder)
    wanted = set(wanted)
    by_rank: dict[int, set[int]] = defaultdict(set)
    for rank, position in wanted:
        by_rank[rank].add(position)
    keys: dict[Node, str] = {}
    for rank, positions in sorted(by_rank.items()):
        with folder.open(f"{rank:05d}{_KEYS}", mode="rb") as lines:
            for position, line in enumerate(lines):
                if position in positions:
                    keys[(rank, position)] = orjson.loads(line)
    if len(keys) != len(wanted):
        raise ValueError(f"{len(wanted) - len(keys)} documents have no survivor key in {folder.path}")
    return keys


class ExactSurvivors(PipelineStep):
    """Exact dedup stage 2 (replaces ``ExactFindDedups``): groups the signatures of stage 1 by hash
    and keeps the smallest survivor key of each group.

    Writes ``<rank>.c4_dup`` (positions to drop) and ``<rank>.c4_counts`` (survivor position, copies
    dropped) under ``00000/``, the layout ``ExactDedupFilter`` reads. One task; memory: 14 bytes per
    document plus the keys of the duplicates.
    """

    type = "🫂 - DEDUP"
    name = "💥 Exact duplicates (survivor by key)"

    def __init__(
        self,
        signatures_folder: DataFolderLike,
        keys_folder: DataFolderLike,
        output_folder: DataFolderLike,
        config: ExactDedupConfig,
    ) -> None:
        super().__init__()
        self.signatures_folder = get_datafolder(signatures_folder)
        self.keys_folder = get_datafolder(keys_folder)
        self.output_folder = get_datafolder(output_folder)
        self.config = config

    def _signatures(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(hash, task rank, position) of every document, sorted by hash."""
        dtype = get_sig_dtype(self.config.hash_config)
        hashes, ranks, positions = [], [], []
        suffix = ExtensionHelperSD.stage_1_signature
        for name in self.signatures_folder.list_files(glob_pattern=f"*/*{suffix}"):
            with self.signatures_folder.open(name, mode="rb") as f:
                sigs = np.frombuffer(f.read(), dtype=dtype)
            hashes.append(sigs["hash"])
            positions.append(sigs["doc"])
            ranks.append(
                np.full(len(sigs), int(name.rsplit("/", 1)[-1].removesuffix(suffix)), dtype=np.uint32)
            )
        if not hashes:
            return (np.empty(0, dtype=np.uint64),) + (np.empty(0, dtype=np.uint32),) * 2
        hashes, ranks, positions = np.concatenate(hashes), np.concatenate(ranks), np.concatenate(positions)
        order = np.argsort(hashes, kind="stable")
        return hashes[order], ranks[order], positions[order]

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> None:
        if world_size != 1:
            raise ValueError("exact survivors run as a single task")
        with self.track_time():
            hashes, ranks, positions = self._signatures()
            repeated = np.zeros(len(hashes), dtype=bool)
            same = hashes[1:] == hashes[:-1]
            repeated[1:] |= same
            repeated[:-1] |= same
            groups: dict[int, list[Node]] = defaultdict(list)
            for index in np.flatnonzero(repeated):
                groups[int(hashes[index])].append((int(ranks[index]), int(positions[index])))
            keys = read_keys(self.keys_folder, (node for nodes in groups.values() for node in nodes))
            drops: dict[int, list[int]] = defaultdict(list)
            counts: dict[int, list[tuple[int, int]]] = defaultdict(list)
            for nodes in groups.values():
                survivor, *copies = sorted(nodes, key=keys.__getitem__)
                counts[survivor[0]].append((survivor[1], len(copies)))
                for task, position in copies:
                    drops[task].append(position)
                self.stat_update("groups")
                self.stat_update("duplicates", value=len(copies))
            for task, dropped in drops.items():
                with self.output_folder.open(
                    f"00000/{task:05d}{ExtensionHelperSD.stage_2_duplicates}", "wb"
                ) as f:
                    f.write(np.array(sorted(dropped), dtype="<u4").tobytes())
            for task, pairs in counts.items():
                with self.output_folder.open(
                    f"00000/{task:05d}{ExtensionHelperSD.stage_2_counts}", "wb"
                ) as f:
                    f.write(b"".join(struct.pack("<II", *pair) for pair in sorted(pairs)))


class ClusterSurvivors(PipelineStep):
    """MinHash stage 3 (replaces ``MinhashDedupCluster``): checks each candidate pair of the bucket
    stage against the two documents' whole signatures, joins the pairs that pass into clusters and
    keeps the smallest survivor key of each.

    A pair passes when the share of equal MinHash values over all buckets (the estimate of its
    Jaccard similarity) reaches ``min_similarity``: a pair that met in one bucket by chance, far
    under the bar, stays apart. Writes ``.remove`` / ``.clusters`` / ``.sizes`` for every task of
    the signature stage (empty ones included, so every document gets ``minhash_cluster_id`` and
    ``minhash_cluster_size``, -1 and 1 outside clusters). Cluster ids number the survivors in key
    order.
    """

    type = "🫂 - DEDUP"
    name = "🎯 MinHash clusters (survivor by key)"

    def __init__(
        self,
        pairs_folder: DataFolderLike,
        keys_folder: DataFolderLike,
        output_folder: DataFolderLike,
        signatures_folder: DataFolderLike,
        config: MinhashConfig,
        min_similarity: float = 0.0,
    ) -> None:
        super().__init__()
        self.pairs_folder = get_datafolder(pairs_folder)
        self.keys_folder = get_datafolder(keys_folder)
        self.output_folder = get_datafolder(output_folder)
        self.signatures_folder = get_datafolder(signatures_folder)
        self.config = config
        self.min_similarity = min_similarity

    def _pairs(self) -> set[tuple[Node, Node]]:
        pairs = set()
        for name in self.pairs_folder.list_files(glob_pattern="*.dups"):
            with self.pairs_folder.open(name, "rb") as found:
                for r1, p1, r2, p2 in read_tuples_from_file(found, "4I"):
                    pairs.add(((r1, p1), (r2, p2)))
        return pairs

    def _signatures(self, nodes: set[Node]) -> dict[Node, np.ndarray]:
        """The whole signature (every bucket's hashes) of each of ``nodes``."""
        per_bucket = self.config.hashes_per_bucket
        dtype = np.dtype([("sig", self.config.hash_config.np_dtype, (per_bucket,)), ("doc", "<u4")])
        positions: dict[int, list[int]] = defaultdict(list)
        for rank, position in nodes:
            positions[rank].append(position)
        wanted = {rank: np.array(found, dtype=np.uint32) for rank, found in positions.items()}
        signatures = {
            node: np.zeros((self.config.num_buckets, per_bucket), dtype=dtype["sig"].base) for node in nodes
        }
        for bucket in range(self.config.num_buckets):
            for name in self.signatures_folder.list_files(subdirectory=f"bucket_{bucket:03d}"):
                rank = int(name.rsplit("/", 1)[-1].removesuffix(".minhash.sig"))
                if rank not in wanted:
                    continue
                with self.signatures_folder.open(name, "rb") as f:
                    records = np.frombuffer(f.read(), dtype=dtype)
                for record in records[np.isin(records["doc"], wanted[rank])]:
                    signatures[(rank, int(record["doc"]))][bucket] = record["sig"]
        return signatures

    def _verified(self, pairs: set[tuple[Node, Node]]) -> list[tuple[Node, Node]]:
        if not self.min_similarity:
            return sorted(pairs)
        signatures = self._signatures({node for pair in pairs for node in pair})
        kept = []
        for a, b in sorted(pairs):
            if (signatures[a] == signatures[b]).mean() >= self.min_similarity:
                kept.append((a, b))
            else:
                self.stat_update("pairs_under_min_similarity")
        return kept

    def _clusters(self, pairs: list[tuple[Node, Node]]) -> dict[Node, Node]:
        """Every document in a pair -> its cluster's root (an arbitrary member)."""
        parent: dict[Node, Node] = {}

        def find(node: Node) -> Node:
            root = node
            while parent.setdefault(root, root) != root:
                root = parent[root]
            while node != root:  # path compression
                parent[node], node = root, parent[node]
            return root

        for a, b in pairs:
            a, b = find(a), find(b)
            if a != b:
                parent[max(a, b)] = min(a, b)
        return {node: find(node) for node in list(parent)}

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> None:
        if world_size != 1:
            raise ValueError("clustering runs as a single task")
        with self.track_time():
            pairs = self._pairs()
            self.stat_update("candidate_pairs", value=len(pairs))
            roots = self._clusters(self._verified(pairs))
            keys = read_keys(self.keys_folder, roots)
            members: dict[Node, list[Node]] = defaultdict(list)
            for node, root in roots.items():
                members[root].append(node)
            survivors = {root: min(nodes, key=keys.__getitem__) for root, nodes in members.items()}
            cluster_ids = {
                root: i for i, root in enumerate(sorted(members, key=lambda r: keys[survivors[r]]))
            }
            with self.output_folder.get_output_file_manager(mode="wb") as out:
                for task in task_ranks(self.keys_folder):
                    for suffix in (".remove", ".clusters", ".sizes"):
                        out.write(f"{task:06d}{suffix}", b"")
                for node in sorted(roots):  # by task, then position: the order the filter reads
                    task, position = node
                    root = roots[node]
                    self.stat_update("in_clusters")
                    if node != survivors[root]:
                        out.write(f"{task:06d}.remove", struct.pack("<I", position))
                        self.stat_update("to_remove")
                    out.write(f"{task:06d}.clusters", struct.pack("<II", position, cluster_ids[root]))
                    out.write(f"{task:06d}.sizes", struct.pack("<II", position, len(members[root])))
            self.stat_update("clusters", value=len(members))
