"""Running workers on Ray (`--executor ray`, the `[ray]` extra): connecting (`session.py`)
and the actor executor (`actors.py`). Below `runner/` and `synth/`, which both use it, so
neither imports the other; `ray` itself is imported only inside these functions.
"""
