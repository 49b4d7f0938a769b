#!/usr/bin/env bash
# Builds the indexes the carry-over research scripts read (target/carry-over/SET), with the
# current build. Then: python3 -m venv .venv-research && .venv-research/bin/pip install numpy
# scipy scikit-learn pyarrow onnxruntime==1.31.1 tokenizers==0.23.3, and
# (cd notebooks/carry_over && ../../.venv-research/bin/python make_table.py).
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --quiet
bin=target/release/clusterby
out=target/carry-over
mkdir -p "$out"
for s in ppmi2 ppmi7 stl10 cifar10 stanford40_location; do
  "$bin" index "../shared/data/captions/$s.jsonl" --out "$out/$s" > /dev/null
done
python3 - <<'PY'
import csv, json
rows = list(csv.DictReader(open("../shared/data/images/fashion-products/labels.csv", newline="")))
with open("target/carry-over/fashion.jsonl", "w") as f:
    for r in rows:
        f.write(json.dumps({"id": r["filename"], "caption": r["productDisplayName"]}) + "\n")
PY
"$bin" index "$out/fashion.jsonl" --out "$out/fashion" > /dev/null
"$bin" demo --out "$out/demo" > /dev/null
echo "indexes in $out"
