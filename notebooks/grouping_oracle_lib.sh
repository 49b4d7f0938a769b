# Helpers shared by the scripts that run the one-call path against the stand-in model
# (notebooks/grouping_oracle_llm.py). Source it after setting `bin` (the clusterby binary),
# `port` and `tmp` (a scratch folder).

summary() { # result -> "values grouped | captions voting | objective | co-mentions | grouping"
  python3 - "$1" <<'PY'
import json, re, sys
d = json.load(open(sys.argv[1]))
note = next((n for n in d["notes"] if "objective" in n or "captions mention" in n), "")
g = re.search(r"grouped (\d+) of (\d+) values; (\d+) of (\d+) captions", note)
o = re.search(r"objective ([\d.]+) vs ([\d.]+)", note)
ratio = f"{(float(o.group(1)) / float(o.group(2)) - 1) * 100:+.2f}%" if o else "–"
c = re.search(r"co-mentions conflict ([\d.]+) as much", note)
co = c.group(1) if c else "–"
kept = "refused: zero-call kept" if d["namer"] != "llm" else "kept: co-mentions vouch" if "co-mentions agree" in note else "kept"
voting = f"{int(g.group(3)) / int(g.group(4)):.2f}" if g else "–"
print(f"{g.group(1)}/{g.group(2) if g else '–'} | {voting} | {ratio} | {co} | {kept}" if g else f"– | – | {ratio} | {co} | {kept}")
PY
}

oracle_query() { # captions.jsonl index criterion k share noise fit support values [cluster args] -> $tmp/r.json
  local captions=$1 index=$2 crit=$3 k=$4 share=$5 noise=$6 fit=$7 support=$8 values=$9
  python3 notebooks/grouping_oracle_llm.py "$port" "$captions" "$share" "$noise" "$fit" "$support" &
  local pid=$!
  sleep 0.6
  "$bin" cluster "$index" --by "$crit" -k "$k" --conditioning names --llm-values "$values" \
    --llm-base-url "http://127.0.0.1:$port/v1" --llm-model stand-in --json "$tmp/r.json" "${@:10}" > /dev/null 2>&1
  kill "$pid"; wait "$pid" 2> /dev/null || true
}
