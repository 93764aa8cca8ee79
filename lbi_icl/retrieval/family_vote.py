"""The agent's task family from its instruction alone, for when its task id names no
family the index knows (a task id written by another tool, a self-instructed task):
the fused strategies' same-task prior and family candidates then come from a vote.

Synthetic examples are windows of a few raw trajectories, and their own instructions
describe the window ("Replicate the following: ..."), not the task; the raw trajectory's
instruction (the task description, `metadata.parent_instruction`) is what an agent's
instruction resembles. So the vote compares the agent's instruction with one text per
*root trajectory* of the index (its examples' `root` column): the parent instruction of
its first example, or that example's own instruction when it has none. Similarity =
cosine of tf-idf vectors over the project's tokenizer; the prior is the similarity-weighted
share of each family among the `vote_roots` most similar roots.

Built on first use per loaded index (one example read per root, at most `MAX_ROOTS`
evenly spaced ones), cached like the action table; an index of unlabelled examples gives
an empty table (no vote).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from lbi_icl.index.load import ExampleIndex
from lbi_icl.retrieval.per_index import PerIndex
from lbi_icl.util.tokenizer import tokenize

MAX_ROOTS = 50_000  # roots read for the vote (an index with more votes on a sample)


@dataclass
class FamilyTable:
    labels: np.ndarray  # per root: the label code of its examples
    # token -> (roots holding it, their tf-idf weight / norm): numpy, so a vote over tens
    # of thousands of roots (one per example in an index of unsynthesized data) stays cheap
    postings: dict[str, tuple[np.ndarray, np.ndarray]]
    idf: dict[str, float]

    def similarities(self, text: str) -> np.ndarray:
        """Cosine of `text`'s tf-idf vector with every root's."""
        sims = np.zeros(len(self.labels), dtype=np.float64)
        counts = Counter(t for t in tokenize(text) if t in self.idf)
        if not counts:
            return sims
        weights = {t: (1 + math.log(c)) * self.idf[t] for t, c in counts.items()}
        norm = math.sqrt(sum(w * w for w in weights.values()))
        for t, w in weights.items():
            roots, rw = self.postings[t]
            sims[roots] += w * rw  # a root appears once per token
        return sims / norm

    def prior(self, text: str, n_codes: int, roots: int) -> np.ndarray:
        """Per label code: the similarity-weighted share among the `roots` nearest roots
        (zeros when nothing is similar)."""
        prior = np.zeros(n_codes, dtype=np.float64)
        if not len(self.labels):
            return prior
        sims = self.similarities(text)
        k = min(roots, len(sims))
        top = np.lexsort((np.arange(len(sims)), -sims))[:k]
        top = top[sims[top] > 0]
        if not len(top):
            return prior
        np.add.at(prior, self.labels[top], sims[top])
        return prior / prior.sum()


def build_family_table(index: ExampleIndex) -> FamilyTable:
    roots = np.asarray(index.meta_column("root"), dtype=np.int64)
    labels = np.asarray(index.meta_column("label"), dtype=np.int64)
    none_code = index.meta_code("label", None)
    keep = np.ones(len(roots), dtype=bool) if none_code is None else labels != none_code
    # the first example of each root (with a label)
    _, first = np.unique(np.where(keep, roots, -1), return_index=True)
    first = np.sort(first[keep[first]])
    if len(first) > MAX_ROOTS:  # evenly spaced: reading every root costs a parse each
        first = first[np.linspace(0, len(first) - 1, MAX_ROOTS).astype(np.int64)]
    texts: list[list[str]] = []
    for i in first:
        ex = index.get_by_idx(int(i))
        parent = ex.metadata.get("parent_instruction")
        texts.append(tokenize(parent if isinstance(parent, str) and parent else ex.instruction))
    df = Counter(t for toks in texts for t in set(toks))
    n = len(texts)
    idf = {t: math.log((n + 1) / (c + 1)) + 1.0 for t, c in df.items()}
    lists: dict[str, tuple[list[int], list[float]]] = {}
    for r, toks in enumerate(texts):
        weights = {t: (1 + math.log(c)) * idf[t] for t, c in Counter(toks).items()}
        norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
        for t, w in weights.items():
            roots_of, weights_of = lists.setdefault(t, ([], []))
            roots_of.append(r)
            weights_of.append(w / norm)
    postings = {
        t: (np.asarray(rs, dtype=np.int64), np.asarray(ws, dtype=np.float64))
        for t, (rs, ws) in lists.items()
    }
    return FamilyTable(labels=labels[first], postings=postings, idf=idf)


# the index's family table, built on first use (thread-safe, one per index object)
family_table: PerIndex[FamilyTable] = PerIndex(build_family_table)
