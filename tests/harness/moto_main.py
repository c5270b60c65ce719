"""Entry point of the S3 test server process: moto's S3 on 127.0.0.1, a port chosen by the kernel.

Run by ``tests/harness/s3.py`` as a child process (not a thread in pytest, so the server's own memory
never counts in the tests' memory measurements). It prints its port on one line, then serves until its
standard input closes: when the test process exits for any reason — even SIGKILL — the pipe closes and
the server stops, so no orphan outlives the suite.
"""

from __future__ import annotations

import sys

from moto.server import ThreadedMotoServer


def main() -> None:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    print(server.get_host_and_port()[1], flush=True)
    try:
        sys.stdin.read()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
