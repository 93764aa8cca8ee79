"""BrowserGym environments (MiniWoB++, WebArena family) for lbi_icl; see README 'Web agents'."""
