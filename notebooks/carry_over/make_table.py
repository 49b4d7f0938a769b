"""Regenerates the REPORT table: plain, current and the recommended method, seeds 42,1,2, n_init=20.
usage: .venv/bin/python make_table.py   (results cached in cache/; delete it to recompute)"""
import warnings; warnings.filterwarnings("ignore")
import numpy as np
from core import QUERIES, evaluate
from baselines import plain, current
from final import recommended
ms = [("plain", plain), ("current", current), ("final", recommended)]
res = {m: evaluate(m, f, verbose=False) for m, f in ms}
print("| query | kind | plain ACC | plain NMI | current ACC | current NMI | new ACC | new NMI |")
print("|---|---|---|---|---|---|---|---|")
fm = {m: [] for m, _ in ms}
for q in QUERIES():
    cells = []
    for m, _ in ms:
        a = np.array(res[m][q[0]])
        cells += [f"{a[:,0].mean():.3f} ± {a[:,0].std():.3f}", f"{a[:,1].mean():.3f} ± {a[:,1].std():.3f}"]
        if q[1] == "fashion": fm[m].append(a[:, 1].mean())
    print(f"| {q[0]} | {q[1]} | " + " | ".join(cells) + " |")
print("| fashion mean NMI | | | " + " | | ".join(f"{np.mean(fm[m]):.3f}" for m, _ in ms) + " |")
