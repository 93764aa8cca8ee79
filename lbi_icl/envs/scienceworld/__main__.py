"""`python -m lbi_icl.envs.scienceworld build-table [OUT]` / `bench [TASK_ID ...]`."""

from lbi_icl.envs.scienceworld.bench import main

raise SystemExit(main())
