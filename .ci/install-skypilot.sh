#!/bin/sh
# The real SkyPilot (client, API server, sky.Task) for tests/bridges/test_skypilot.py, in its own
# venv: it cannot share the operator's environment (click<8.2 vs kopf's click>=8.2). ~30 s, 460 MB.
set -eu
exec sh "$(dirname "$0")/tool-venv.sh" skypilot-venv-0.14.1 "skypilot==0.14.1" sky
