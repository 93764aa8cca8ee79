"""The offline task-set builder (real PyPI projects + AST mutations)."""
