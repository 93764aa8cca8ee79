"""WebArena through BrowserGym: the 812 task configs listed offline, sites from `WA_*`.

`tasks("test")` reads `test.raw.json` from the `webarena` package (libwebarena, installed by
browsergym-webarena) as a data file — no import, no server: task id `webarena.<task_id>`
(the gym id `browsergym/webarena.<task_id>`), instruction = the intent, metadata = sites,
evaluation types, intent template, start URL. WebArena has one split, `test` (all 812).

Running a task needs the benchmark's sites, configured as BrowserGym documents:
`WA_SHOPPING`, `WA_SHOPPING_ADMIN`, `WA_REDDIT`, `WA_GITLAB`, `WA_WIKIPEDIA`, `WA_MAP`,
`WA_HOMEPAGE` (base URLs). `check_ready()` (called by `lbi run` before the first episode,
and by `reset`) names every missing setting, then every site that does not answer.

`task_configs=PATH` runs your own WebArena-format configs (a JSON list, same fields as
`test.raw.json`, URLs written out) through the same evaluators (`wa_local.py`); their sites
are the hosts of their `start_url`s and are checked the same way.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import json
import logging
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, ClassVar

from lbi_icl.data import Document, Task
from lbi_icl.envs.base import EnvError, Rescored, RunFiles
from lbi_icl.envs.browsergym.env import BrowserGymEnv
from lbi_icl.envs.browsergym.protocol import check_protocol, repeat_seeds, webarena_protocol
from lbi_icl.envs.browsergym.session import SessionConfig
from lbi_icl.envs.browsergym.site_reset import MODES, reset_sites
from lbi_icl.envs.browsergym.wa_rescore import Grader, rescore_episode

log = logging.getLogger(__name__)

WA_SETTINGS: dict[str, str] = {
    "WA_SHOPPING": "shopping (OneStopShop) base URL, e.g. http://HOST:7770",
    "WA_SHOPPING_ADMIN": "shopping admin (Magento) base URL, e.g. http://HOST:7780/admin",
    "WA_REDDIT": "reddit (Postmill) base URL, e.g. http://HOST:9999",
    "WA_GITLAB": "GitLab base URL, e.g. http://HOST:8023",
    "WA_WIKIPEDIA": "Wikipedia (kiwix) URL, e.g. http://HOST:8888/wikipedia_en_all_maxi_2022-05/A/User:The_other_Kiwix_guy/Landing",
    "WA_MAP": "map (OpenStreetMap) base URL, e.g. http://HOST:3000",
    "WA_HOMEPAGE": "homepage base URL, e.g. http://HOST:4399",
}
SITE_SETTING = {
    "shopping": "WA_SHOPPING",
    "shopping_admin": "WA_SHOPPING_ADMIN",
    "reddit": "WA_REDDIT",
    "gitlab": "WA_GITLAB",
    "wikipedia": "WA_WIKIPEDIA",
    "map": "WA_MAP",
}


class SitesNotReadyError(EnvError):
    """A benchmark's sites are not configured or not reachable; names the setting / URL."""


def package_data(package: str, relpath: str, what: str) -> Path:
    """`relpath` inside installed `package`, found without importing it (the WebArena
    family's packages assert on import when their sites are not set)."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            f"{what} come with the package `{package}`; install the WebArena family with: "
            "bash .ci/setup-webarena.sh"
        )
    return Path(next(iter(spec.submodule_search_locations))) / relpath


def webarena_config_path() -> Path:
    return package_data("webarena", "test.raw.json", "the WebArena task configs")


# WebArena's program_html helpers (webarena.evaluation_harness.helper_functions) that a
# `func:` entry may call, as the packaged configs do
FUNC_HELPERS = frozenset(
    {
        "shopping_get_latest_order_url",
        "shopping_get_sku_latest_review_author",
        "shopping_get_sku_latest_review_rating",
        "reddit_get_post_url",
        "gitlab_get_project_memeber_role",
    }
)


def check_func(text: str) -> str | None:
    """Why a program_html `func:` entry is not allowed (None: it is). WebArena's evaluator
    `eval()`s the text, so your own configs may hold only what the packaged ones hold: one
    call of a WebArena helper whose arguments are string literals or `__page__`."""
    import ast

    try:
        tree = ast.parse(text.removeprefix("func:").strip(), mode="eval")
    except SyntaxError:
        return "is not a Python call expression"
    call = tree.body
    if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name):
        return "must be one call of a WebArena helper (func:reddit_get_post_url('__last_url__'))"
    if call.func.id not in FUNC_HELPERS:
        return f"calls {call.func.id!r}; allowed: {', '.join(sorted(FUNC_HELPERS))}"
    for arg in [*call.args, *(k.value for k in call.keywords)]:
        literal = isinstance(arg, ast.Constant) and isinstance(arg.value, str)
        if not (literal or (isinstance(arg, ast.Name) and arg.id == "__page__")):
            return "takes only string literals and __page__ as arguments"
    return None


def load_configs(path: Path, *, trusted: bool = True) -> list[dict[str, Any]]:
    """Task configs from `path`. Untrusted (user) configs may use `func:` in program_html
    only as the packaged ones do (`check_func`): WebArena's evaluator `eval()`s that text."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: not a readable JSON list of WebArena task configs: {e}") from e
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of task configs, got {type(data).__name__}")
    for i, cfg in enumerate(data):
        for key in ("task_id", "intent", "eval"):
            if not isinstance(cfg, dict) or key not in cfg:
                raise ValueError(f"{path}: config #{i}: missing field {key!r}")
        if not trusted:
            for j, target in enumerate(cfg["eval"].get("program_html") or []):
                for field in ("url", "locator"):
                    text = str(target.get(field, ""))
                    why = check_func(text) if text.startswith("func:") else None
                    if why is not None:
                        raise ValueError(
                            f"{path}: config #{i} (task_id {cfg['task_id']}): "
                            f"eval.program_html[{j}].{field} {text!r} {why} (WebArena's "
                            "evaluator runs it as Python)"
                        )
    return data


def nltk_punkt_available() -> bool:
    """Whether nltk's 'punkt_tab' data is installed (WebArena's evaluator and
    browsergym.webarena's import need it; nothing here downloads it)."""
    try:
        import nltk

        nltk.data.find("tokenizers/punkt_tab")
        return True
    except (ImportError, LookupError):
        return False


def evaluator_needs(config: dict[str, Any]) -> list[str]:
    """What the evaluators of `config` need beyond the page: 'OPENAI_API_KEY' for
    fuzzy_match (WebArena asks an OpenAI model), 'nltk punkt_tab' for a must_include list
    of one single-character phrase (WebArena tokenizes the answer with nltk then)."""
    ev = config.get("eval") or {}
    ref = ev.get("reference_answers") or {}
    needs = []
    if "string_match" in (ev.get("eval_types") or []):
        if "fuzzy_match" in ref and ref["fuzzy_match"] != "N/A":
            needs.append("OPENAI_API_KEY")
        inc = ref.get("must_include") or []
        if len(inc) == 1 and len(str(inc[0]).strip()) == 1:
            needs.append("nltk punkt_tab")
    return needs


def probe(url: str, timeout_s: float = 5.0) -> str | None:
    """None when `url` answers HTTP (any status), else why not."""
    try:
        req = urllib.request.Request(url, method="GET")
        with urllib.request.urlopen(req, timeout=timeout_s):
            return None
    except urllib.error.HTTPError:
        return None  # the server answered
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        return f"not reachable ({reason})"


def _loopback(url: str) -> bool:
    host = urllib.parse.urlparse(url).hostname or ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class WebArenaEnv(BrowserGymEnv):
    name = "webarena"
    benchmark = "webarena"
    default_step_limit = 30
    # what differs between the WebArena-format benchmarks (VisualWebArena subclasses this)
    settings: ClassVar[dict[str, str]] = WA_SETTINGS  # {env var: meaning}; all required
    url_settings: tuple[str, ...] = tuple(WA_SETTINGS)  # the ones that are URLs to probe
    gym_prefix = "webarena"  # gym id browsergym/<prefix>.<task_id>
    session_module = "browsergym.webarena"
    reset_var = "WA_FULL_RESET"  # BrowserGym's reset server of the instance
    site_docs: ClassVar[dict[str, str]] = {}  # {} = SITE_DOCS below
    needs_punkt = True  # the session module downloads nltk's punkt_tab on import
    # own WebArena-format configs are judged by WebArena's evaluators: this env only
    takes_task_configs: ClassVar[bool] = True

    def config_path(self) -> Path:
        return webarena_config_path()

    def __init__(
        self,
        *,
        task_configs: str | Path | None = None,
        check_sites: bool = True,
        probe_timeout_s: float = 5.0,
        protocol: str = "browsergym",
        site_reset: str | None = None,
        reset_url: str | None = None,
        reset_poll_s: float = 20.0,
        site_reset_timeout_s: float = 900.0,
        judge_llm: str | None = None,
        judge_base_url: str | None = None,
        **options: Any,
    ):
        if task_configs and not self.takes_task_configs:
            raise ValueError(
                f"{self.name}: task_configs= runs WebArena-format configs with WebArena's "
                "evaluators; use --env webarena for your own configs"
            )
        proto = webarena_protocol(self.name, check_protocol(self.name, protocol), 0)
        super().__init__(protocol=proto, **options)
        self.task_configs = Path(task_configs) if task_configs else None
        # a full instance reset between tasks (site_reset.py), when a reset URL is set
        self.reset_url = reset_url or os.environ.get(self.reset_var) or None
        mode = site_reset or ("every" if self.reset_url else "off")
        if mode not in MODES:
            raise ValueError(
                f"{self.name}: site_reset={mode!r}; expected one of {', '.join(MODES)}"
            )
        if mode != "off" and not self.reset_url:
            raise ValueError(
                f"{self.name}: site_reset={mode!r} needs the instance's reset URL: set "
                f"{self.reset_var} (BrowserGym's variable) or --env-option reset_url=..."
            )
        self.site_reset, self.reset_poll_s = mode, reset_poll_s
        self.site_reset_timeout_s = site_reset_timeout_s
        self.site_resets = 0
        # fuzzy_match answers: judged by this LLM (default: the run's --llm, bind_run)
        self.judge_llm, self.judge_base_url = judge_llm, judge_base_url
        self.judge_source = "judge_llm" if judge_llm else ""
        self.check_sites = check_sites
        self.probe_timeout_s = probe_timeout_s
        self._configs: list[dict[str, Any]] | None = None
        self._ready = False
        self._grader = Grader()  # WebArena's evaluators in a child, for `rescore`

    def configs(self) -> list[dict[str, Any]]:
        if self._configs is None:
            if self.task_configs is not None:
                self._configs = load_configs(self.task_configs, trusted=False)
            else:
                self._configs = load_configs(self.config_path())
        return self._configs

    # -- tasks ----------------------------------------------------------------------------

    def tasks(self, split: str) -> list[Task]:
        if split != "test":
            raise ValueError(
                f"{self.name}: unknown split {split!r}; WebArena has one split, 'test' "
                "(synthesize from its documents and your own exploration instead)"
            )
        local = self.task_configs is not None
        configs = self.configs()
        # protocol browsergym: BrowserGym's seed per task (one repeat); lbi: seed 0
        bg = self.protocol is not None and self.protocol.name == "browsergym"
        seeds = repeat_seeds([str(c["task_id"]) for c in configs], 1) if bg else None
        out = []
        for i, cfg in enumerate(configs):
            tid = cfg["task_id"]
            ev = cfg.get("eval") or {}
            out.append(
                Task(
                    id=f"{self.name}.{tid}",
                    env=self.name,
                    instruction=str(cfg["intent"]),
                    split="test",
                    metadata={
                        "task": f"template-{cfg.get('intent_template_id', tid)}",
                        "task_id": tid,
                        "sites": list(cfg.get("sites") or []),
                        "eval_types": list(ev.get("eval_types") or []),
                        "intent_template_id": cfg.get("intent_template_id"),
                        "start_url": cfg.get("start_url"),
                        "require_login": bool(cfg.get("require_login")),
                        "seed": seeds[i][0] if seeds else 0,
                        "gym_id": "browsergym/lbi.webarena_local"
                        if local
                        else f"browsergym/{self.gym_prefix}.{tid}",
                        "task_kwargs": {"config": cfg} if local else {},
                    },
                )
            )
        return out

    def task(self, task_id: str) -> Task:
        for t in self.tasks("test"):
            if t.id == task_id:
                return t
        raise ValueError(f"{self.name}: no task {task_id!r}")

    # -- sites ----------------------------------------------------------------------------

    def site_urls(self) -> dict[str, str]:
        """{setting: URL} that running needs: every WA_* for the packaged tasks (BrowserGym
        reads them all), the start URLs' sites for local configs."""
        if self.task_configs is None:
            return {k: os.environ.get(k, "") for k in self.settings}
        out: dict[str, str] = {}
        for cfg in self.configs():
            for url in str(cfg.get("start_url") or "").split(" |AND| "):
                p = urllib.parse.urlparse(url)
                if p.scheme in ("http", "https") and p.netloc:
                    out[f"start_url of task {cfg['task_id']}"] = f"{p.scheme}://{p.netloc}/"
        return out

    def check_ready(self) -> None:
        if self._ready or not self.check_sites:
            return
        urls = self.site_urls()
        missing = [k for k, v in urls.items() if not v]
        if missing:
            lines = [f"  {k}: {self.settings.get(k, '')}" for k in missing]
            raise SitesNotReadyError(
                f"{self.name}: the benchmark's sites are not configured; set "
                + ", ".join(missing)
                + " (see docs/web.md):\n"
                + "\n".join(lines)
            )
        for setting, url in urls.items():
            if self.task_configs is None and setting not in self.url_settings:
                continue  # a token, not a URL
            why = probe(url, self.probe_timeout_s)
            if why is not None:
                raise SitesNotReadyError(f"{self.name}: {setting}={url} is {why}")
        if self.takes_task_configs and not self.judge_llm and not os.environ.get("OPENAI_API_KEY"):
            n = self.fuzzy_tasks()
            if n:  # WebArena's evaluator would call OpenAI mid-run
                raise SitesNotReadyError(
                    f"{self.name}: {n} task(s) are judged by an LLM (fuzzy_match); run with "
                    "--policy llm --llm SPEC (the run's LLM judges), or --env-option "
                    "judge_llm='\"SPEC\"', or set OPENAI_API_KEY for WebArena's own judge"
                )
        # browsergym.webarena fetches punkt_tab on import
        if self.task_configs is None and self.needs_punkt and not nltk_punkt_available():
            raise SitesNotReadyError(
                f"{self.name}: {self.session_module} needs nltk's 'punkt_tab' data and "
                "downloads it when imported; install it ahead with `python -m "
                "nltk.downloader punkt_tab` (nothing is downloaded at run time)"
            )
        self._ready = True

    def session_modules(self) -> list[str]:
        if self.task_configs is not None:
            return ["lbi_icl.envs.browsergym.wa_local"]
        return [self.session_module]

    def session_environ(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k.startswith("WA_")}
        if self.task_configs is not None:  # webarena's env_config wants every site set
            for key in WA_SETTINGS:
                env.setdefault(key, "http://127.0.0.1:9")
        for key in WA_SETTINGS:  # libwebarena reads the names without the prefix
            if key in env:
                env.setdefault(key.removeprefix("WA_"), env[key])
        return env

    def session_offline(self) -> bool:
        urls = self.site_urls()
        if self.task_configs is None:
            urls = {k: v for k, v in urls.items() if k in self.url_settings}
        return all(_loopback(u) for u in urls.values() if u)

    def success(self, reward: float, done: bool, info: dict[str, Any]) -> bool:
        return done and reward > 0

    def episode_goal(self) -> str:
        return ""  # the intent, known up front, is the instruction (the page adds nothing)

    def bind_run(self, config: Any) -> None:
        """The run's `--llm` judges fuzzy_match answers unless `judge_llm` is given."""
        super().bind_run(config)
        if self.judge_llm is None and getattr(config, "llm", None):
            self.judge_llm = str(config.llm)
            self.judge_base_url = getattr(config, "llm_base_url", None)
            self.judge_source = "the run's --llm"

    def session_config(self) -> SessionConfig:
        cfg = super().session_config()
        if not self.judge_llm:
            return cfg
        return cfg.model_copy(
            update={"judge": {"spec": self.judge_llm, "base_url": self.judge_base_url}}
        )

    def final_state(self, out: dict[str, Any]) -> dict[str, Any]:
        """The page, tabs and answer (`BrowserGymEnv`) and the `WA_*` site URLs the task's
        config was rendered and checked with: what `rescore` needs besides the config."""
        sites = {k: v for k, v in self.session_environ().items() if k in WA_SETTINGS}
        return {**super().final_state(out), "sites": sites}

    def rescore(self, task: Task, steps: list[dict[str, Any]], files: RunFiles) -> Rescored | None:
        """`lbi rescore`: string_match / url_match graded again from the recorded final state
        by WebArena's evaluators; program_html and LLM-judged answers are not (wa_rescore)."""
        return rescore_episode(self, self._grader, task, steps)

    def close(self) -> None:
        self._grader.close()
        super().close()

    def fuzzy_tasks(self) -> int:
        """Configs whose answer an LLM judges (fuzzy_match, or an N/A with a reason)."""
        return sum(1 for cfg in self.configs() if "OPENAI_API_KEY" in evaluator_needs(cfg))

    def before_reset(self, task: Task) -> None:
        """A full site reset before the task (`site_reset` every / start), then the sites
        are probed again."""
        if self.site_reset == "off" or (self.site_reset == "start" and self.site_resets):
            return
        assert self.reset_url is not None
        seconds = reset_sites(
            self.reset_url, poll_s=self.reset_poll_s, timeout_s=self.site_reset_timeout_s
        )
        self.site_resets += 1
        log.info("%s: sites reset before task %s in %.0fs", self.name, task.id, seconds)
        self._ready = False
        self.check_ready()

    def run_notes(self) -> list[str]:
        if self.protocol is not None and self.protocol.tasks == 0:
            self.protocol = self.protocol.model_copy(update={"tasks": len(self.configs())})
        notes = super().run_notes()
        if self.judge_llm:
            notes.append(
                f"fuzzy_match answers judged by {self.judge_llm} ({self.judge_source}) with "
                "WebArena's own grading prompt"
            )
        if self.site_reset != "off":
            when = "before every task" if self.site_reset == "every" else "before the first task"
            notes.append(f"full site reset {when} ({self.reset_var} / reset_url)")
        return notes

    def documents(self) -> list[Document]:
        """The action space and one short page per site used by the tasks (never the test
        intents: all WebArena tasks are test tasks)."""
        docs = super().documents()
        sites = sorted({s for cfg in self.configs() for s in cfg.get("sites") or []})
        for site in sites:
            docs.append(
                Document(
                    id=f"{self.name}/site-{site}",
                    env=self.name,
                    title=site,
                    text=(self.site_docs or SITE_DOCS).get(site, f"The {site} website."),
                )
            )
        return docs


SITE_DOCS = {
    "shopping": "OneStopShop, an online store (Magento storefront): search and browse "
    "products by category, read reviews, manage the cart, wish list, orders and the "
    "customer account.",
    "shopping_admin": "The store's admin panel (Magento): sales orders, invoices, "
    "products and inventory, customers, reviews, marketing and reports.",
    "reddit": "A forum (Postmill): forums and posts, comments, votes, submitting and "
    "editing posts, subscriptions and user profiles.",
    "gitlab": "GitLab: projects and repositories, issues, merge requests, members, "
    "settings, commits and the user profile.",
    "wikipedia": "An offline Wikipedia (kiwix): search and read articles.",
    "map": "OpenStreetMap: search places, get directions between places, read "
    "distances and travel times.",
}
