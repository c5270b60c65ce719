#!/bin/sh
# Build a real Kubernetes control plane — kube-apiserver, kube-controller-manager and etcd — for
# the tests that run against the real thing (tests/realcluster, the `cluster` suite with
# KUBERUN_CONTROL_PLANE=real) and for `kuberun sandbox --control-plane real`.
#
# No registry ships these binaries, but the Go module proxy serves their source as Go modules.
# k8s.io/kubernetes is meant to be built from its own repository: its go.mod points every
# k8s.io/* staging module at ./staging/src/... So we build from a tiny wrapper module that
# requires k8s.io/kubernetes at one pinned release and `replace`s each staging module by its
# published v0.X.Y of the same release (their tags are cut from the same commit). etcd comes from
# its own module (go.etcd.io/etcd/server/v3, whose root package is etcd's main) at the version
# that release of Kubernetes pins.
#
# The binaries live in the user cache directory, outside any clone (CI clones afresh each run):
#   ${XDG_CACHE_HOME:-~/.cache}/kuberun/kube-<version>/bin/{kube-apiserver,kube-controller-manager,etcd}
# (or $KUBERUN_KUBE_BIN) — the same rule as kuberun_sandbox.realcp.binaries.kube_bin_dir, which the
# tests and `kuberun sandbox --control-plane real` use to find them; `--print-bin-dir` prints it
# (tests/unit/test_realcp.py checks that both agree).
# A stamp records what was built; a second run is a no-op. Go's own build and module caches make a
# rebuild after a version bump incremental. A fresh build takes about 15-25 min on 2 cores.
# Prints the bin directory as its last line.
set -eu

KUBE_VERSION=${KUBE_VERSION:-v1.35.4}
ETCD_VERSION=${ETCD_VERSION:-v3.6.5}
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/kuberun/kube-$KUBE_VERSION
BIN="${KUBERUN_KUBE_BIN:-$CACHE/bin}"
if [ "${1:-}" = "--print-bin-dir" ]; then
    echo "$BIN"
    exit 0
fi
STAMP="$BIN/.built"
WANT="kubernetes=$KUBE_VERSION etcd=$ETCD_VERSION"

if [ -x "$BIN/kube-apiserver" ] && [ -x "$BIN/kube-controller-manager" ] && [ -x "$BIN/etcd" ] \
    && [ "$(cat "$STAMP" 2>/dev/null)" = "$WANT" ]; then
    echo "install-kube.sh: already built: $WANT in $BIN"
    echo "$BIN"
    exit 0
fi

if ! command -v go >/dev/null 2>&1; then
    echo "install-kube.sh: no Go toolchain on PATH; the real-control-plane tests will skip" >&2
    exit 0
fi

echo "install-kube.sh: building $WANT into $BIN (first time: ~20 min on 2 cores)"
START=$(date +%s)
SRC="$CACHE/src"
mkdir -p "$SRC" "$BIN"
export GOFLAGS="${GOFLAGS:-} -mod=mod"
export CGO_ENABLED=0

# The staging modules' published versions: v1.X.Y -> v0.X.Y.
STAGING_VERSION="v0.${KUBE_VERSION#v1.}"
go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" >"$SRC/kubernetes.json"
GOMOD=$(sed -n 's/.*"GoMod": "\(.*\)",*/\1/p' "$SRC/kubernetes.json")

{
    echo "module kuberun.dev/kubebuild"
    echo
    echo "go 1.25.0"
    echo
    echo "require k8s.io/kubernetes $KUBE_VERSION"
    echo "require go.etcd.io/etcd/server/v3 $ETCD_VERSION"
    echo
    # Every `k8s.io/foo => ./staging/src/k8s.io/foo` of the release becomes `=> k8s.io/foo v0.X.Y`.
    sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/k8s.io/[a-z0-9-]*$#replace \1 => \1 '"$STAGING_VERSION"'#p' "$GOMOD"
} >"$SRC/go.mod"
cat >"$SRC/tools.go" <<'EOF'
//go:build tools

// Package kubebuild only pins the commands it builds.
package kubebuild

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
EOF

cd "$SRC"
go mod tidy -e >/dev/null 2>&1 || true
# -trimpath and no debug info: smaller binaries, and builds that do not depend on this path.
MINOR=${KUBE_VERSION#v1.}; MINOR=${MINOR%%.*}
LDFLAGS="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    LDFLAGS="$LDFLAGS -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$MINOR -X $pkg.gitTreeState=clean"
done
for target in kube-apiserver kube-controller-manager; do
    echo "install-kube.sh: go build $target"
    go build -trimpath -ldflags "$LDFLAGS" -o "$BIN/.$target.partial" "k8s.io/kubernetes/cmd/$target"
    mv "$BIN/.$target.partial" "$BIN/$target"
done
echo "install-kube.sh: go build etcd"
go build -trimpath -ldflags "$LDFLAGS" -o "$BIN/.etcd.partial" go.etcd.io/etcd/server/v3
mv "$BIN/.etcd.partial" "$BIN/etcd"

"$BIN/kube-apiserver" --version
"$BIN/kube-controller-manager" --version
"$BIN/etcd" --version | head -1
echo "$WANT" >"$STAMP"
echo "install-kube.sh: built in $(( $(date +%s) - START ))s, $(du -sh "$BIN" | cut -f1) of binaries"
echo "$BIN"
