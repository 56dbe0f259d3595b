"""make bench: the served pipeline against the in-process ceiling and the peers, on the same machine in one run.

__main__.py runs it; variants.py builds the repositories measured (through conversion), repositories.py
the folders served (the measured pipeline alone, and the client-side peer's model), ceiling.py the
in-process ceiling, perf_analyzer.py and http_load.py the load, fastapi_peer.py and infinity_peer.py
the peers, report.py the figures and plots; soak.py and startup.py are `make soak` and `make bench-startup`.
"""
