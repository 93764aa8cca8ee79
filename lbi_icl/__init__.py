"""lbi_icl: training-free LLM agents that learn in context from synthetic interaction data.

Public API. Heavy parts (torch, faiss, environments) load lazily on first attribute access,
so `import lbi_icl` stays fast and never imports torch.
"""

from __future__ import annotations

from lbi_icl.util.lazy import lazy_getattr

__version__ = "0.1.0"

# name -> module that defines it. Each area keeps its own block.
_EXPORTS: dict[str, str] = {
    # data contract
    "Step": "lbi_icl.data",
    "Trajectory": "lbi_icl.data",
    "Document": "lbi_icl.data",
    "Task": "lbi_icl.data",
    "DataError": "lbi_icl.data.jsonl",
    "DataProblem": "lbi_icl.data.jsonl",
    "read_jsonl": "lbi_icl.data.jsonl",
    "read_trajectories": "lbi_icl.data.jsonl",
    "read_documents": "lbi_icl.data.jsonl",
    "write_jsonl": "lbi_icl.data.jsonl",
    "JsonlAppender": "lbi_icl.data.jsonl",
    "dataset_stats": "lbi_icl.data.stats",
    # llm
    "LLM": "lbi_icl.llm.base",
    "Message": "lbi_icl.llm.base",
    "GenerationParams": "lbi_icl.llm.base",
    "LLMResponse": "lbi_icl.llm.base",
    "Usage": "lbi_icl.llm.base",
    "make_llm": "lbi_icl.llm.factory",
    "ScriptedLLM": "lbi_icl.llm.scripted",
    "UsageTotals": "lbi_icl.llm.usage",
    "LLMError": "lbi_icl.llm.errors",
    "LLMAuthError": "lbi_icl.llm.errors",
    "CacheMissError": "lbi_icl.llm.errors",
    # embed
    "Embedder": "lbi_icl.embed",
    "HashEmbedder": "lbi_icl.embed",
    "load_embedder": "lbi_icl.embed",
    # index
    "build_index": "lbi_icl.index.build",
    "build_index_from": "lbi_icl.index.build",
    "add_to_index": "lbi_icl.index.build",
    "load_index": "lbi_icl.index.load",
    "ExampleIndex": "lbi_icl.index.load",
    "IndexConfig": "lbi_icl.index.manifest",
    "IndexManifest": "lbi_icl.index.manifest",
    # envs
    "Env": "lbi_icl.envs.base",
    "StepResult": "lbi_icl.envs.base",
    "EnvError": "lbi_icl.envs.base",
    "EnvInfo": "lbi_icl.envs.registry",
    "make_env": "lbi_icl.envs.registry",
    "list_envs": "lbi_icl.envs.registry",
    "register_env": "lbi_icl.envs.registry",
    "GuardedEnv": "lbi_icl.envs.guard",
    "guard_env": "lbi_icl.envs.guard",
    # synth
    "SynthConfig": "lbi_icl.synth.config",
    "SynthReport": "lbi_icl.synth.config",
    "synthesize": "lbi_icl.synth.pipeline",
    "get_relabeler": "lbi_icl.synth.relabelers",
    # retrieval
    "Retriever": "lbi_icl.retrieval.base",
    "StepContext": "lbi_icl.retrieval.base",
    "RetrievedItem": "lbi_icl.retrieval.base",
    "RetrievalResult": "lbi_icl.retrieval.base",
    "RetrievalConfig": "lbi_icl.retrieval.config",
    "STRATEGIES": "lbi_icl.retrieval",
    "make_retriever": "lbi_icl.retrieval",
    "evaluate_retrieval": "lbi_icl.retrieval.evaluate",
    # prompts
    "PROMPTS": "lbi_icl.prompts.specs",
    "PromptSet": "lbi_icl.prompts.templates",
    "PromptError": "lbi_icl.prompts.templates",
    "load_prompts": "lbi_icl.prompts.templates",
    "default_prompts": "lbi_icl.prompts.templates",
    # agent
    "AgentConfig": "lbi_icl.agent.base",
    "StepLog": "lbi_icl.agent.base",
    "EpisodeResult": "lbi_icl.agent.base",
    "Policy": "lbi_icl.agent.policies",
    "make_policy": "lbi_icl.agent.policies",
    "run_episode": "lbi_icl.agent.loop",
    "parse_action": "lbi_icl.agent.parse",
    # runner
    "RunConfig": "lbi_icl.runner.config",
    "RunSummary": "lbi_icl.runner.run",
    "run_experiment": "lbi_icl.runner.run",
    "report": "lbi_icl.runner.report",
    "build_report": "lbi_icl.runner.report",
    "export_run": "lbi_icl.runner.export",
    # view
    "build_view": "lbi_icl.view.build",
    "serve_view": "lbi_icl.view.serve",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


__getattr__ = lazy_getattr(globals(), _EXPORTS)


def __dir__() -> list[str]:
    return __all__
