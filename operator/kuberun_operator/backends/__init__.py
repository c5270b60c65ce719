"""Backends: where attempts run. ``base`` is the contract (a small required protocol and named
optional ones); a backend of one file is a module (``local``), one of several a package
(``kubernetes/``, ``slurm/``, ``lepton/``, ``skypilot/``); ``cloud`` is what the HTTP bridges share."""
