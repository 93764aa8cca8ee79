"""The `swe` environment: SWE-bench-format code tasks in a git workspace (see env.py)."""
