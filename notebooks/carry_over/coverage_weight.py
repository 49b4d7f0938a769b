"""The values' share scaled by how many captions name a kind.

A caption that names no kind takes the kind nearest to it, so its values row repeats what its
caption says; only the captions that name a kind bring the criterion in. This variant gives
the values 1 − A' = (1 − A) · coverage^γ of the weight (A: the product's agreement weight,
coverage: the share of captions naming a kind). Research harness, the product's uncentred
captions, every query of core.QUERIES().
    /work/research/.venv/bin/python coverage_weight.py [SEEDS env]"""
import sys
from core import evaluate, QUERIES
from fallback import method

if __name__ == "__main__":
    only = sys.argv[1:]
    Q = [q for q in QUERIES() if not only or q[0] in only]
    for gamma in (1.0, 0.5):
        evaluate(f"cov-{gamma}", method("word", False, lambda a, c, g=gamma: 1 - (1 - a) * c ** g), Q)
