"""The one tokenizer shared by every BM25 index and every BM25 query (and `HashEmbedder`).

Rule (documented in docs/retrieval.md): lowercase, split into runs of ASCII letters and digits
(`[a-z0-9]+`; punctuation and other characters separate tokens), drop a short fixed list of
English stopwords. No stemming: environment observations are short and exact object names
("red ball", "sink3") matter more than morphology. Numbers are kept ("3 steps").

Also the one estimate of how many tokens an LLM reads for a text (`estimate_tokens`), used by
the retrieval token budget, prompt fitting and the rate limiter alike. No exact tokenizer is
available offline for every backend (hosted models' are not), so it counts the pieces a
byte-level BPE tokenizer never merges across (words, each digit, short punctuation runs,
line breaks, the space before a number), at least ceil(characters / `CHARS_PER_TOKEN`);
docs/agent.md has how far it is off for a real one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np

TOKENIZER_ID = "lbi-words-v1"

_WORD = re.compile(r"[a-z0-9]+")

STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "of",
        "to",
        "in",
        "on",
        "at",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "with",
        "for",
        "from",
        "by",
        "as",
        "you",
        "your",
        "i",
        "we",
        "he",
        "she",
        "they",
        "them",
        "there",
        "here",
    ]
)


def tokenize(text: str) -> list[str]:
    """Tokens of `text` in order (duplicates kept: BM25 needs term frequencies)."""
    return [t for t in _WORD.findall(text.lower()) if t not in STOPWORDS]


def token_set(text: str) -> frozenset[str]:
    return frozenset(tokenize(text))


# What a BPE tokenizer (Qwen2.5's, GPT's, Llama 3's) never merges across, each about one token:
# a word (camelCase split: "GoToRedBall" is 4), each digit (Qwen and Llama 3 split numbers into
# digits), a run of up to two punctuation characters, a line break with the spaces around it,
# a tab run, a space before a digit (" 1" is two tokens) and a run of spaces. Against
# Qwen2.5's tokenizer (1,760 texts, docs/agent.md; tests/fixtures/token_counts.json) the
# estimate is 1-8 % over the real count on BabyAI and ScienceWorld prompts, -1 to +5 % on
# desktop tree tables, -14 to +6 % on web pages (rare words split into several tokens) and
# -2 to +38 % on code and patches.
_LLM_PIECE = re.compile(
    r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d|[^\sA-Za-z\d]{1,2}|\s*\n\s*|\t+| (?=\d)|  +"
)
# The floor: plain prose never runs above ~4 characters per token (long words, non-Latin
# script the pieces undercount).
CHARS_PER_TOKEN = 4.0


def estimate_tokens(text: str, chars_per_token: float | None = None) -> int:
    """LLM tokens of `text`, estimated: its pieces (`_LLM_PIECE`), at least
    ceil(characters / `CHARS_PER_TOKEN`). With `chars_per_token` (a run's
    `agent.chars_per_token`, the estimate prompt fitting used before) it is
    ceil(characters / chars_per_token) instead."""
    if chars_per_token is not None:
        return math.ceil(len(text) / chars_per_token)
    return max(math.ceil(len(text) / CHARS_PER_TOKEN), len(_LLM_PIECE.findall(text)))


# -- batch encoding (index builds) ------------------------------------------------------
# The same rule applied to many texts at once, without a Python string per token:
# - the texts are joined with NUL (never part of a token, so it only separates, like any
#   other non-token character), lowercased once and encoded to UTF-8. In UTF-8 every byte
#   of a non-ASCII character is >= 0x80, so the runs of bytes [a-z0-9] are exactly the
#   tokens `tokenize` finds with its regex on the lowercased string;
# - each token's bytes (up to 24) are packed into three big-endian uint64 words (tokens
#   hold no zero byte, so the packing is exact), hashed, and grouped with one `np.sort` of
#   (hash, position) keys; every group is checked word for word, so a hash collision can
#   never merge two tokens (it only sends the batch to the exact string path);
# - only the tokens never seen before are decoded to `str` (the vocabulary), in first-seen
#   order, so ids are those a text-by-text `tokenize` + `dict.setdefault` loop would give.
_SEP = "\x00"
_WORD_OR_SEP = re.compile(r"[a-z0-9]+|\x00")
_WORDS = 3  # uint64 words per packed token: tokens of up to 24 bytes take the fast path
_MAX_PACKED = 8 * _WORDS
_PAD = b"\x00" * (_MAX_PACKED + 8)  # so every 8-byte read stays inside the buffer
# _KEEP[v]: keeps the first v bytes of a little-endian word
_KEEP = np.array([0] + [(1 << (8 * v)) - 1 for v in range(1, 9)], dtype=np.uint64)
_MIX = (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x27D4EB2F165667C5)
# Values in the hash table / lookups besides ids (>= 0) and stopwords (-1 - i):
_UNKNOWN = -(1 << 40)  # not seen yet
_AMBIGUOUS = -(1 << 41)  # a hash two different tokens share: those tokens go by their text
_MASK64 = (1 << 64) - 1


def _token_spans(raw: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Start and length of every run of bytes [a-z0-9] in `raw` (which ends with `_PAD`)."""
    buf = np.frombuffer(raw, dtype=np.uint8)
    is_tok = ((buf - np.uint8(97)) < 26) | ((buf - np.uint8(48)) < 10)
    edges = np.diff(is_tok.view(np.int8), prepend=np.int8(0))
    starts = np.flatnonzero(edges == 1)
    return starts, np.flatnonzero(edges == -1) - starts


def _pack(raw: bytes, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """(3, n) uint64: each token's bytes as little-endian words, zero beyond its end (tokens
    hold no zero byte, so equal words <=> equal tokens). `raw` ends with `_PAD`."""
    # every byte offset of `raw` as the start of an (unaligned) 8-byte word
    words8 = np.ndarray(shape=(len(raw) - 7,), dtype="<u8", buffer=raw, strides=(1,))
    out = np.zeros((_WORDS, len(starts)), dtype=np.uint64)
    out[0] = words8[starts] & _KEEP[np.minimum(lengths, 8)]
    for k in range(1, _WORDS):
        sel = np.flatnonzero(lengths > 8 * k)
        out[k, sel] = words8[starts[sel] + 8 * k] & _KEEP[np.minimum(lengths[sel] - 8 * k, 8)]
    return out


def _hash(words: np.ndarray, salt: int = 0) -> np.ndarray:
    h = words[0] * np.uint64(_MIX[salt % 4])
    for k in range(1, _WORDS):
        h ^= words[k] * np.uint64(_MIX[(k + salt) % 4])
    h ^= h >> np.uint64(29)
    h *= np.uint64(_MIX[(salt + 3) % 4])
    h ^= h >> np.uint64(32)
    return h


def _group(h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Equal-hash groups by one fast `np.sort` of (hash high bits, position) keys: each
    position's group number (groups numbered in hash order) and each group's first position."""
    n = len(h)
    bits = max(1, int(n).bit_length())
    pos_mask = np.uint64((1 << bits) - 1)
    keys = (h & ~pos_mask) | np.arange(n, dtype=np.uint64)
    keys.sort()
    order = (keys & pos_mask).astype(np.int64)
    high = keys >> np.uint64(bits)
    starts = np.empty(n, dtype=bool)
    starts[:1] = True
    np.not_equal(high[1:], high[:-1], out=starts[1:])
    group = np.empty(n, dtype=np.int64)
    group[order] = np.cumsum(starts) - 1
    return group, order[starts]


class TokenEncoder:
    """Maps the tokens of batches of texts to int32 ids (stopwords dropped), numbering new
    tokens in first-seen order. `encode(texts)` gives the same ids as `tokenize` text by text
    with one `dict.setdefault(token, len(vocab))` vocabulary (tested)."""

    def __init__(self) -> None:
        self._vocab: dict[str, int] = {}  # token -> id (what `vocab()` returns)
        self._by_hash: dict[int, int] = {}  # 64-bit hash of packed words -> id (-1 stopword)
        self._words = np.zeros((64, _WORDS), dtype=np.uint64)  # packed words of each id
        stops = sorted(STOPWORDS)
        self._stop_words = self._pack_strings(stops)
        for i, h in enumerate(_hash(self._stop_words.T).tolist()):
            self._by_hash[h] = -1 - i  # stopword i: id -1 - i (checked against its words)

    def seed(self, tokens: list[str]) -> None:
        """Start from an existing vocabulary (`tokens` in id order): new tokens get the ids
        that encoding the earlier texts first would have given."""
        if self._vocab:
            raise ValueError("seed() needs an empty encoder")
        for t in tokens:
            self._add(t)
        short = [i for i, t in enumerate(tokens) if len(t) <= _MAX_PACKED]
        if not short:
            return
        packed = self._pack_strings([tokens[i] for i in short])
        for i, h, words in zip(short, _hash(packed.T).tolist(), packed, strict=True):
            self._remember(h, words, i)

    @property
    def size(self) -> int:
        return len(self._vocab)

    def vocab(self) -> dict[str, int]:
        """Token -> id, in id order."""
        return dict(self._vocab)

    @staticmethod
    def _pack_strings(tokens: list[str]) -> np.ndarray:
        raw = "".join(tokens).encode("ascii") + _PAD
        lengths = np.array([len(t) for t in tokens], dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        return np.ascontiguousarray(_pack(raw, starts, lengths).T)  # (n, 3)

    def encode(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Token ids of `texts`, concatenated in order (int32), and each text's token count
        (int64): the same tokens, in the same order, as `tokenize` text by text."""
        if not texts:
            return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int64)
        joined = _SEP.join(texts)
        if joined.count(_SEP) != len(texts) - 1:  # a text holds NUL itself: it separates
            joined = _SEP.join(t.replace(_SEP, " ") for t in texts)
        lowered = joined.lower()
        raw = lowered.encode("utf-8") + _PAD
        starts, lengths = _token_spans(raw)
        # tokens per text (stopwords included) from where the separators fall among them
        seps = np.flatnonzero(np.frombuffer(raw, dtype=np.uint8)[: len(raw) - len(_PAD)] == 0)
        bounds = np.concatenate([[0], np.searchsorted(starts, seps), [len(starts)]])
        doc = np.repeat(np.arange(len(texts)), np.diff(bounds))
        ids = self._ids(raw, starts, lengths)
        if ids is None:
            ids = self._ids_exact(lowered)
        keep = ids >= 0
        counts = np.bincount(doc[keep], minlength=len(texts)).astype(np.int64)
        return ids[keep].astype(np.int32), counts

    def _ids(self, raw: bytes, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray | None:
        """Ids by packed words (new tokens registered); None if the batch must go by text."""
        if len(starts) == 0:
            return np.zeros(0, dtype=np.int64)
        long = lengths > _MAX_PACKED
        any_long = bool(long.any())
        short = np.flatnonzero(~long) if any_long else np.arange(len(starts))
        words = (
            _pack(raw, starts[short], lengths[short]) if any_long else _pack(raw, starts, lengths)
        )
        for salt in range(3):  # a collision inside the batch: regroup with another hash
            h = _hash(words, salt)
            group, first = _group(h)
            reps = words[:, first]
            if all(np.array_equal(reps[k, group], words[k]) for k in range(_WORDS)):
                break
        else:
            return None
        rep_hash = h[first] if salt == 0 else _hash(reps)
        known = np.array(
            [self._by_hash.get(x, _UNKNOWN) for x in rep_hash.tolist()], dtype=np.int64
        )
        if (known == _AMBIGUOUS).any() or not self._check(known, reps):
            return None
        # tokens never seen before (short ones by group, long ones by text), first-seen order
        new_pos: list[int] = []
        new_ref: list[tuple[int, str]] = []  # (short token group, or -1 - long index; text)
        for g in np.flatnonzero(known == _UNKNOWN).tolist():
            p = int(short[first[g]])
            new_pos.append(p)
            new_ref.append((g, raw[starts[p] : starts[p] + lengths[p]].decode("ascii")))
        long_pos = np.flatnonzero(long)
        long_ids = np.empty(len(long_pos), dtype=np.int64)
        pending: dict[str, int] = {}
        for j, p in enumerate(long_pos.tolist()):
            text = raw[starts[p] : starts[p] + lengths[p]].decode("ascii")
            got = self._vocab.get(text)
            if got is None and text not in pending:
                pending[text] = j
                new_pos.append(p)
                new_ref.append((-1 - j, text))
            long_ids[j] = _UNKNOWN if got is None else got
        for _, (ref, text) in sorted(zip(new_pos, new_ref, strict=True)):
            tid = self._add(text)
            if ref >= 0:
                known[ref] = tid
                self._remember(int(rep_hash[ref]), reps[:, ref], tid)
        known[(known < 0) & (known != _UNKNOWN)] = -1  # stopwords (-1 - i) are just dropped
        if not any_long:
            return known[group]
        ids = np.empty(len(starts), dtype=np.int64)
        ids[short] = known[group]
        if len(long_pos):
            unresolved = long_ids == _UNKNOWN
            for j in np.flatnonzero(unresolved).tolist():
                p = int(long_pos[j])
                long_ids[j] = self._vocab[raw[starts[p] : starts[p] + lengths[p]].decode("ascii")]
            ids[long_pos] = long_ids
        return ids

    def _check(self, known: np.ndarray, reps: np.ndarray) -> bool:
        """Tokens found by hash really are the tokens stored under that hash."""
        vocab_rows = known >= 0
        if vocab_rows.any() and not np.array_equal(
            self._words[known[vocab_rows]], reps[:, vocab_rows].T
        ):
            return False
        stop_rows = (known < 0) & (known != _UNKNOWN) & (known != _AMBIGUOUS)
        return not stop_rows.any() or np.array_equal(
            self._stop_words[-1 - known[stop_rows]], reps[:, stop_rows].T
        )

    def _add(self, text: str) -> int:
        tid = len(self._vocab)
        self._vocab[text] = tid
        return tid

    def _remember(self, h: int, words: np.ndarray, tid: int) -> None:
        if tid >= len(self._words):
            grown = np.zeros((2 * len(self._words) + tid, _WORDS), dtype=np.uint64)
            grown[: len(self._words)] = self._words
            self._words = grown
        if h in self._by_hash:  # another token already has this hash: go by text from now
            self._by_hash[h] = _AMBIGUOUS
        else:
            self._by_hash[h] = tid
        self._words[tid] = words

    def _ids_exact(self, lowered: str) -> np.ndarray:
        """The string path (one dict lookup per token), for batches the fast path declines."""
        out: list[int] = []
        for tok in _WORD_OR_SEP.findall(lowered):
            if tok == _SEP:
                continue
            if tok in STOPWORDS:
                out.append(-1)
                continue
            tid = self._vocab.get(tok)
            if tid is None:
                tid = self._add(tok)
                packed = self._pack_strings([tok])
                if len(tok) <= _MAX_PACKED:
                    self._remember(int(_hash(packed.T)[0]), packed[0], tid)
            out.append(tid)
        return np.array(out, dtype=np.int64)
