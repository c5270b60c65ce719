"""Recording what attempts leave behind (artifacts today; logs and the archive are wired beside them).

Each step is its own module with one hook in the controller, so the steps stay independent.
"""
