"""Compare option sets of new2 on all queries (1 seed, fast k-means) -> compact table."""
import sys, json, warnings
warnings.filterwarnings("ignore")
from newm import *
variants = [json.loads(a) for a in sys.argv[1:]]
Q = [q for q in QUERIES() if q[0] in ONLY] if (ONLY := __import__('os').environ.get('ONLY', '').split(',')) != [''] else QUERIES()
hdr = f"{'query':30s} " + " ".join(f"   v{i}    " for i in range(len(variants)))
print(hdr)
fash = np.zeros((len(variants), 2)); nf = 0
for qq in Q:
    d, crit, k = load(qq)
    row = []
    for i, v in enumerate(variants):
        v = dict(v); seed = v.pop("seed", 42)
        lab = new2(d, crit, k, seed, **v)
        acc, nm, _ = score(d.truth, lab)
        row.append(f"{acc:.3f}/{nm:.3f}")
        if qq[1] == "fashion": fash[i] += (nm, 0)
    nf += qq[1] == "fashion"
    print(f"{qq[0][:30]:30s} " + " ".join(row), flush=True)
print("fashion mean NMI", " ".join(f"{x:.3f}" for x in fash[:, 0] / nf))
