"""The values' share capped by the share of captions that name a kind.

A caption that names no kind takes the kind nearest to it, so its values row repeats what its
caption says. This variant lets the values hold at most that share of the weight:
1 − A' = min(1 − A, coverage), A' at most 0.9 (A: the product's agreement weight, coverage: the
share of captions naming a kind). Unlike coverage_weight.py it leaves A alone wherever the
values' share is already below the coverage. Research harness, the product's uncentred captions.
    CW_RESTARTS=20 SEEDS=42,1,2 /work/research/.venv/bin/python coverage_cap.py [QUERY ...]
Results: notebooks/carry_over.md, "What did not work"."""
import sys
from core import evaluate, QUERIES
from fallback import method
from final import A_CAP

if __name__ == "__main__":
    only = sys.argv[1:]
    Q = [q for q in QUERIES() if not only or q[0] in only]
    evaluate("covcap-base", method("word", False), Q, use_cache=False)
    evaluate("covcap", method("word", False, lambda a, c: max(a, min(A_CAP, 1 - c))), Q, use_cache=False)
