"""How much of Stanford-40's actions the location captions' MiniLM embeddings hold at all: a
supervised linear probe (logistic regression, 5-fold). Usage: python linear_probe.py"""
import json, os
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from harness import Encoder

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../shared/data/captions")
rows = [json.loads(l) for l in open(os.path.join(DATA, "stanford40_location.jsonl"))]
X = Encoder().embed([r["caption"] for r in rows])
y = [r["label"] for r in rows]
print("linear probe 5-fold acc", cross_val_score(LogisticRegression(C=10, max_iter=2000), X, y, cv=5).mean())
