"""Backends: where attempts run. One module each, behind the protocol in ``base``."""
