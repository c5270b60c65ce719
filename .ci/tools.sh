#!/bin/sh
# Install what the test suites need, then `make test` runs them; the README's test command calls this.
#
# Every `.ci/install-*.sh` is idempotent and fast when its tool is already there. Slow builds (tool
# virtualenvs, helm, the wheelhouse, the Kubernetes control plane) live in the user cache directory,
# outside the clone — CI clones afresh each run, and a second run on the same machine must not
# rebuild — and `.tools` in the clone is a link to it. Scripts that install Debian packages say
# `# needs: root` and are skipped, with a line saying so, when not root (their suites then skip with
# a reason). In CI (CI=true) a failed install fails the run; elsewhere it is reported and the
# suites that need it skip.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/kuberun
mkdir -p "$CACHE/tools"
[ -e "$ROOT/.tools" ] || ln -s "$CACHE/tools" "$ROOT/.tools"
KUBERUN_TOOLS=$(cd "$ROOT/.tools" && pwd -P)
export KUBERUN_TOOLS

failed=""
for script in "$ROOT"/.ci/install-*.sh; do
    name=$(basename "$script")
    if grep -q '^# needs: root' "$script" && [ "$(id -u)" != 0 ]; then
        echo "tools.sh: not root: skipping $name (the suites that need it will skip, saying why)"
        continue
    fi
    sh "$script" || failed="$failed $name"
done
if [ -n "$failed" ]; then
    echo "tools.sh: FAILED:$failed" >&2
    [ "${CI:-}" = true ] && exit 1
fi
exit 0
