"""BrowserGym environments (MiniWoB++, WebArena family) for lbi_icl; see docs/web.md."""
