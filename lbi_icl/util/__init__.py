"""Helpers that know nothing of agents, environments or retrieval, each shared by several
parts of lbi_icl: where caches live, output locks, cancellation, helper thread pools, child
processes that die with their parent, status lines, secret scrubbing, settings diffs,
stable seeds, the BM25 tokenizer and the lazy public-name loader.

Nothing here imports another part of lbi_icl, so every part may import it.
"""
