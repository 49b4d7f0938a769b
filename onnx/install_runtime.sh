#!/usr/bin/env bash
# Install the ONNX Runtime shared library that the Rust `ort` crate loads at run time.
#
# The library is taken from the onnxruntime wheel on PyPI (the only registry reachable
# here); its version is the one pinned in onnx/requirements.txt so Python and Rust run
# the same runtime. Result:
#   ${CLUSTERBY_HOME:-$HOME/.cache/clusterby}/runtime/libonnxruntime.so.<ver>
#   ${CLUSTERBY_HOME:-$HOME/.cache/clusterby}/runtime/libonnxruntime.so -> libonnxruntime.so.<ver>
# Prints the path of the symlink (use it as ORT_DYLIB_PATH).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
req="$here/requirements.txt"
python="${PYTHON:-python3}"

ver="$(sed -n 's/^onnxruntime==\([0-9][0-9.]*\)[[:space:]]*\(#.*\)\{0,1\}$/\1/p' "$req")"
if [[ -z "$ver" ]]; then
    echo "install_runtime.sh: no 'onnxruntime==X.Y.Z' pin in $req" >&2
    exit 1
fi

dir="${CLUSTERBY_HOME:-$HOME/.cache/clusterby}/runtime"
lib="libonnxruntime.so.$ver"
link="$dir/libonnxruntime.so"

if [[ -s "$dir/$lib" && "$(readlink "$link" 2>/dev/null || true)" == "$lib" ]]; then
    echo "onnxruntime $ver already installed" >&2
    echo "$link"
    exit 0
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# --only-binary: the library only exists in the built wheel; pip picks the wheel that
# matches this machine's Python/platform, which is also the platform the Rust binary runs on.
"$python" -m pip download --quiet --no-deps --only-binary=:all: \
    --dest "$tmp" "onnxruntime==$ver" >&2

mkdir -p "$dir"
"$python" - "$tmp" "$lib" "$dir" <<'PY'
import glob, os, shutil, sys, zipfile
tmp, lib, dest = sys.argv[1:]
wheels = glob.glob(os.path.join(tmp, "onnxruntime-*.whl"))
if len(wheels) != 1:
    sys.exit(f"install_runtime.sh: expected one onnxruntime wheel, got {wheels}")
member = f"onnxruntime/capi/{lib}"
with zipfile.ZipFile(wheels[0]) as zf:
    if member not in zf.namelist():
        sys.exit(f"install_runtime.sh: {member} not in {os.path.basename(wheels[0])}")
    # Write beside the target and rename, so a reader never sees a half-written library.
    part = os.path.join(dest, f".{lib}.part")
    with zf.open(member) as src, open(part, "wb") as out:
        shutil.copyfileobj(src, out)
os.chmod(part, 0o755)
os.replace(part, os.path.join(dest, lib))
PY

ln -sfn "$lib" "$link"
echo "installed onnxruntime $ver into $dir" >&2
echo "$link"
