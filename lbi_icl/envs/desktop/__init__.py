"""Desktop agents: a local desktop (Xvfb + LibreOffice) behind an OSWorld-compatible server."""
