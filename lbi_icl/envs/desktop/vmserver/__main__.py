"""`python -m lbi_vmserver`: read the session token from the first line of stdin, serve on
127.0.0.1 (port 0 = any free port), print `PORT <n>` once listening."""

from __future__ import annotations

import argparse
import logging
import sys

from .app import serve


def main() -> None:
    parser = argparse.ArgumentParser(prog="lbi_vmserver")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    token = sys.stdin.readline().strip()
    if len(token) < 16:
        sys.exit("lbi_vmserver: a session token of at least 16 characters is required on stdin")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    server = serve(token, args.port)
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever(poll_interval=0.5)


if __name__ == "__main__":
    main()
