"""Documentation chunking for the RAG baseline.

A document's title and text are split into windows of `chunk_words` words that overlap by
`chunk_overlap` words (defaults 200 / 40); a short document is one chunk. Each chunk's text
starts with the document title so a chunk read alone still says where it comes from.
"""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import BaseModel, ConfigDict

from lbi_icl.data import Document


class Chunk(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str  # '<document id>#<n>'
    doc_id: str
    env: str
    title: str
    n: int
    text: str


def chunk_document(doc: Document, *, words: int = 200, overlap: int = 40) -> Iterator[Chunk]:
    if overlap >= words:
        raise ValueError(f"chunk overlap ({overlap}) must be smaller than chunk size ({words})")
    tokens = doc.text.split()
    step = words - overlap
    starts = range(0, max(1, len(tokens) - overlap), step) if len(tokens) > words else [0]
    for n, start in enumerate(starts):
        body = " ".join(tokens[start : start + words])
        text = f"{doc.title}\n{body}" if doc.title else body
        yield Chunk(id=f"{doc.id}#{n}", doc_id=doc.id, env=doc.env, title=doc.title, n=n, text=text)
