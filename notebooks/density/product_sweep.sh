#!/bin/bash
# HDBSCAN's settings swept through the product itself (values conditioning, K given, noise
# assigned) on the ten labelled queries: the four IC|TC sets, Stanford-40 location captions by
# action and the product names by five criteria. Indexes: `clusterby ablate --data
# ../shared/data` (target/ablation) and `bash notebooks/carry_over/indexes.sh`
# (target/carry-over/fashion).
#
#   bash notebooks/density/product_sweep.sh [CLUSTER FLAGS...]
#   e.g. --min-samples 5    or    --min-cluster-size 12
set -euo pipefail
B=${CLUSTERBY_BIN:-target/release/clusterby}
A=target/ablation/captions
F=target/carry-over/fashion
L=../shared/data/images/fashion-products/labels.csv
out=$(mktemp -d)
one() { # name index criterion k labels [column]
  local name=$1 index=$2 by=$3 k=$4 labels=$5 column=${6:-label}
  "$B" cluster "$index" --by "$by" -k "$k" --method hdbscan "${EXTRA[@]}" --json "$out/$name.json" >/dev/null 2>&1
  local found scores
  found=$(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))['clusters']))" "$out/$name.json")
  scores=$("$B" eval "$out/$name.json" --labels "$labels" --column "$column" | head -1)
  echo "$name clusters=$found $scores"
}
EXTRA=("$@")
one ppmi2 $A/ppmi2 "musical instrument" 2 $A/ppmi2
one ppmi7 $A/ppmi7 "musical instrument" 7 $A/ppmi7
one stl10 $A/stl10 object 10 $A/stl10
one cifar10 $A/cifar10 object 10 $A/cifar10
one stanford40 $A/stanford40_location action 40 $A/stanford40_location
one colour $F colour 21 $L baseColour
one gender $F gender 5 $L gender
one product-category $F "product category" 13 $L subCategory
one footwear-or-clothing $F "type of footwear or clothing" 4 $L masterCategory
one usage $F usage 6 $L usage
