"""Research harness: reads clusterby indexes (parts + derived vocabulary) and scores methods."""
import glob, json, os, struct, csv
import numpy as np
import pyarrow.parquet as pq
import onnxruntime as ort
from tokenizers import Tokenizer
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import normalized_mutual_info_score, adjusted_rand_score

_HERE = os.path.dirname(os.path.abspath(__file__))
# The indexes of `bash notebooks/carry_over/indexes.sh` (one folder per set, as the research used them).
ROOT = os.path.join(_HERE, "../../target/carry-over")
MODEL = os.path.expanduser("~/.cache/clusterby/models/all-MiniLM-L6-v2")


class Encoder:
    def __init__(self, model_dir=MODEL):
        so = ort.SessionOptions(); so.intra_op_num_threads = 2
        self.s = ort.InferenceSession(f"{model_dir}/model.onnx", so)
        self.tok = Tokenizer.from_file(f"{model_dir}/tokenizer.json")
        self.inputs = [i.name for i in self.s.get_inputs()]
        self.cache = {}

    def embed(self, texts):
        out = [None] * len(texts)
        todo = [i for i, t in enumerate(texts) if t not in self.cache]
        for b in range(0, len(todo), 64):
            idx = todo[b:b + 64]
            enc = self.tok.encode_batch([texts[i] for i in idx])
            ids = np.array([e.ids for e in enc], dtype=np.int64)
            mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
            feed = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self.inputs:
                feed["token_type_ids"] = np.zeros_like(ids)
            h = self.s.run(None, feed)[0]
            m = mask[..., None].astype(np.float32)
            v = (h * m).sum(1) / m.sum(1)
            v /= np.linalg.norm(v, axis=1, keepdims=True)
            for j, i in enumerate(idx):
                self.cache[texts[i]] = v[j]
        return np.stack([self.cache[t] for t in texts])


def read_occ(path):
    b = open(path, "rb").read()
    rows, total = struct.unpack_from("<QQ", b, 16)
    offs = np.frombuffer(b, dtype="<u8", count=rows + 1, offset=32)
    ids = np.frombuffer(b, dtype="<u4", count=total, offset=32 + 8 * (rows + 1))
    return [ids[offs[r]:offs[r + 1]].astype(np.int64) for r in range(rows)]


class Index:
    def __init__(self, name):
        d = f"{ROOT}/{name}"
        parts = sorted(glob.glob(f"{d}/parts/*.parquet"))
        tabs = [pq.read_table(p) for p in parts]
        self.ids = sum((t.column("id").to_pylist() for t in tabs), [])
        self.captions = sum((t.column("caption").to_pylist() for t in tabs), [])
        self.labels = sum((t.column("label").to_pylist() for t in tabs), [])
        self.X = np.concatenate([np.stack(t.column("embedding").to_numpy(zero_copy_only=False)) for t in tabs]).astype(np.float32)
        meta = json.load(open(f"{d}/derived/vocab.json"))
        self.terms = meta["terms"]; self.df = np.array(meta["df"])
        self.V = np.load(f"{d}/derived/vocab.npy")
        self.occ = read_occ(f"{d}/derived/occurrences.bin")
        n = len(self.ids)
        axis_min = max(3, int(np.ceil(0.003 * n)))
        self.axis = int((self.df >= axis_min).sum())
        # manifest order equals parts order? check ids count
        assert len(self.occ) == n, (len(self.occ), n)


def fashion_labels():
    rows = list(csv.DictReader(open(os.path.join(_HERE, "../../../shared/data/images/fashion-products/labels.csv"), newline="")))
    return {r["filename"]: r for r in rows}


def score(truth, pred):
    truth = np.asarray(truth); pred = np.asarray(pred)
    tl = {l: i for i, l in enumerate(sorted(set(truth)))}
    t = np.array([tl[x] for x in truth])
    pl = {l: i for i, l in enumerate(sorted(set(pred)))}
    p = np.array([pl[x] for x in pred])
    C = np.zeros((len(pl), len(tl)))
    np.add.at(C, (p, t), 1)
    r, c = linear_sum_assignment(-C)
    acc = C[r, c].sum() / len(t)
    return acc, normalized_mutual_info_score(t, p), adjusted_rand_score(t, p)


# The labelled query sets: name -> (index, criterion, K, truth list)
def sets(enc=None):
    out = []
    for name, idx, crit, k in [("PPMI-2", "ppmi2", "musical instrument", 2), ("PPMI-7", "ppmi7", "musical instrument", 7),
                                ("STL-10", "stl10", "object", 10), ("CIFAR-10", "cifar10", "object", 10),
                                ("Stanford40", "stanford40_location", "action", 40)]:
        out.append((name, idx, crit, k, None))
    fl = fashion_labels()
    for crit, col in [("colour", "baseColour"), ("gender", "gender"), ("type of product", "articleType"),
                      ("product category", "subCategory"), ("type of footwear or clothing", "masterCategory"),
                      ("season", "season"), ("usage", "usage")]:
        out.append((f"fashion:{crit}", "fashion", crit, None, col))
    return out
