"""File names inside an index directory (one place, so build and load never disagree).

```
manifest.json                 IndexManifest (format version, embedder, BM25 params, counts...)
examples.jsonl                the examples (Trajectory JSON, one per line): the index alone
examples.off.npy              renders prompts; int64 byte offsets (n+1) for O(1) access
example_ids.json              example ids in index order
example_steps.npy             int64 (n+1): example i owns step rows [s[i], s[i+1])
examples_meta.json/.npy       per-example columns (env, outcome, kind, task, root, label) as
                              int32 codes into value lists: filters and the leakage guard
vec_instruction.npy           float32 (n, dim) L2-normalized instruction vectors (cosine = dot)
vec_description.npy           float32 (n, dim) description vectors (instruction + actions)
ann_<field>.hnsw.faiss        optional faiss HNSW graph over a big dense field (index/ann.py)
steps_obs.bin/.off.npy        step table: observation text blob + offsets (one row per
steps_act.bin/.off.npy          observation-action pair), action text blob + offsets,
steps_example.npy             int32 example index of each row,
steps_pos.npy                 int32 step position of each row
bm25_steps/                   bm25s index over step observations (bm25s' own files) plus
  tf.lbi.npy                    our counts: tf of every stored entry (CSC order, uint16/32)
  doc_lengths.lbi.npy           and tokens per observation (int32), so `add` appends new
                                observations without re-tokenizing the old ones (optional:
                                an index without them is rebuilt from all texts on `add`)
docs_chunks.jsonl             documentation chunks (Chunk JSON)
vec_docs.npy                  float32 chunk vectors
bm25_docs/                    bm25s index over chunks
```
Nothing here is a pickle; `.npy` files are written and read with `allow_pickle=False`.
"""

MANIFEST = "manifest.json"
EXAMPLES = "examples.jsonl"
EXAMPLE_OFFSETS = "examples.off.npy"
EXAMPLE_IDS = "example_ids.json"
EXAMPLE_STEPS = "example_steps.npy"
META_VALUES = "examples_meta.json"
META_CODES = "examples_meta.npy"
META_COLUMNS = ("env", "outcome", "kind", "task", "root", "label")
VEC_INSTRUCTION = "vec_instruction.npy"
VEC_DESCRIPTION = "vec_description.npy"
STEP_OBS = "steps_obs"
STEP_ACT = "steps_act"
STEP_EXAMPLE = "steps_example.npy"
STEP_POS = "steps_pos.npy"
BM25_STEPS = "bm25_steps"
DOC_CHUNKS = "docs_chunks.jsonl"
VEC_DOCS = "vec_docs.npy"
BM25_DOCS = "bm25_docs"
DOC_PREFIXES = ("docs_chunks", "vec_docs", "bm25_docs")
