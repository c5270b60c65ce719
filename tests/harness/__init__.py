"""Real servers the test suites start and stop themselves (PostgreSQL, ...), loopback only."""
