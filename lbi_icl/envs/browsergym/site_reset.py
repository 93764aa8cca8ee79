"""A full reset of a WebArena-family instance between tasks, by BrowserGym's mechanism: the
instance's reset server (`WA_FULL_RESET`, VisualWebArena `VWA_FULL_RESET`) answers
`GET <url>/reset` (200: started, 418: already running) and `GET <url>/status` ("Ready for
duty!" once the sites are back). The env polls until ready, then probes its sites again.

`site_reset` (env option): "every" (before every task; the default when the reset URL is
set), "start" (before the env's first task, as AgentLab does once per study), "off".
A reset restarts the sites for every worker: run such a study with `--workers 1`.
"""

from __future__ import annotations

import logging
import time
import urllib.error
import urllib.request

from lbi_icl.envs.base import EnvError

log = logging.getLogger(__name__)

READY = "Ready for duty!"
MODES = ("every", "start", "off")


def _get(url: str, timeout_s: float) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url), timeout=timeout_s) as r:
            return int(r.status), r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return int(e.code), e.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as e:
        raise EnvError(f"site reset: {url} is not reachable ({getattr(e, 'reason', e)})") from e


def reset_sites(url: str, *, poll_s: float = 20.0, timeout_s: float = 900.0) -> float:
    """Reset the instance behind `url` and wait until it is ready; returns the seconds it
    took. EnvError (one line) when the reset is refused, fails or takes too long."""
    base = url.rstrip("/")
    t0 = time.monotonic()
    status, body = _get(f"{base}/reset", 30.0)
    if status not in (200, 418):
        raise EnvError(f"site reset: GET {base}/reset answered {status}: {body.strip()[:200]}")
    log.info("site reset started at %s (%s)", base, "already running" if status == 418 else "ok")
    while True:
        status, body = _get(f"{base}/status", 30.0)
        if status != 200:
            raise EnvError(f"site reset: GET {base}/status answered {status}: {body.strip()[:200]}")
        if body.strip() == READY:
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout_s:
            raise EnvError(
                f"site reset: {base} not ready after {timeout_s:g}s ({body.strip()[:80]})"
            )
        time.sleep(poll_s)
