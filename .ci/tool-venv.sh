#!/bin/sh
# Build .tools/<name> as a separate virtualenv holding exactly <requirement>, idempotently.
#
# Used for packages that must not share the operator's environment (skypilot pins click<8.2,
# kopf needs click>=8.2; leptonai 0.47 breaks nemo-run, which the dev env needs). A stamp holds
# the requirement, so a second run is a no-op and changing the pin rebuilds the venv.
#   usage: tool-venv.sh NAME REQUIREMENT [CHECK_IMPORT]
set -eu

NAME=$1 REQ=$2 CHECK=${3:-}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV="${KUBERUN_TOOLS:-$ROOT/.tools}/$NAME"
STAMP="$VENV/.requirement"
PY=${PYTHON:-python3}

if [ -x "$VENV/bin/python" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$REQ" ]; then
    echo "tool-venv.sh: $NAME already holds $REQ"
    exit 0
fi

echo "tool-venv.sh: building $NAME with $REQ"
START=$(date +%s)
rm -rf "$VENV"
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$REQ"
if [ -n "$CHECK" ]; then
    "$VENV/bin/python" -c "import $CHECK"
fi
echo "$REQ" > "$STAMP"
echo "tool-venv.sh: $NAME ready in $(( $(date +%s) - START ))s"
