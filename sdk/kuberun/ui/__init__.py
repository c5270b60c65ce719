"""``kuberun ui``: a web dashboard over the shared record (the Experiments in the cluster).

Why a dashboard: people would rather look at a DAG, a timeline and a metric plot than read YAML,
and the record already holds everything needed to draw them. It reads the cluster with the
user's own kubeconfig (so RBAC applies exactly as in the CLI), serves on 127.0.0.1 only, and
needs nothing from the network at run time: pages are rendered on the server (Jinja2, autoescaped)
and one small script refreshes them live and follows logs.

Layout: ``data`` is the one door into the SDK; ``listing``, ``detail``, ``compare`` and
``actions`` are the pages; ``graph``, ``timeline`` and ``plot`` lay out the SVG drawings;
``live`` streams logs as Server-Sent Events; ``security`` guards the loopback server;
``server`` assembles the aiohttp application; ``cli`` is ``kuberun ui``.
"""
