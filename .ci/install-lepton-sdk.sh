#!/bin/sh
# The real leptonai SDK for tests/bridges/test_lepton.py, in its own venv: the dev env pins
# leptonai 0.27.3 for nemo-run, and 0.47 pulls ray[default] (419 MB). ~25 s.
set -eu
exec sh "$(dirname "$0")/tool-venv.sh" lepton-venv-0.47.1 "leptonai==0.47.1" leptonai.api.v2.client
