#!/usr/bin/env python3
"""The one call's ceiling: a stand-in endpoint answers the real request as a model that knows
the classes would. For each class it gives the class name, a one-line description, and as
examples the three listed words that most captions of that class use among those the class
holds most of (at least half their captions, at least 3) -- learnt from the EVEN rows only, so
that scoring the ODD rows does not reward label correlation a model could not know. Zero-call
and one-call ACC/NMI on the odd rows side by side, with the verdict.

Needs the indexes `clusterby ablate --data ../shared/data` caches in target/ablation/.
Usage: python3 notebooks/one_call_standin.py   (writes notebooks/one_call_standin.md)
"""
import csv, json, os, re, subprocess, sys, tempfile
from collections import Counter, defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from one_call_real_model import BIN, CONTEXT, FASHION, ROOT, SETS, WORK, cluster, serve  # noqa: E402

CAPTIONS = os.path.join(ROOT, "../shared/data/captions")


def rows_of(index, labels, column):
    """(id, caption, label) in file order."""
    if labels:
        with open(labels, newline="") as f:
            return [(r["filename"], r["productDisplayName"], r[column]) for r in csv.DictReader(f)]
    name = index.split("/")[-1]
    with open(os.path.join(CAPTIONS, name + ".jsonl")) as f:
        return [(r["id"], r["caption"], r["label"]) for r in map(json.loads, f)]


def listed_words(request):
    text = request["messages"][-1]["content"]
    block = text.split("in brackets):\n", 1)[1].split("\n\n", 1)[0]
    return [re.sub(r" \(\d+\)$", "", w) for w in block.split(", ")]


def mentions(word, caption):
    return re.search(r"\b" + re.escape(word) + r"s?\b", caption.lower()) is not None


def answer(request, train, classes):
    words = listed_words(request)
    counts = defaultdict(Counter)
    for _, caption, label in train:
        for w in words:
            if mentions(w, caption):
                counts[w][label] += 1
    per_class = defaultdict(list)
    for w, c in counts.items():
        label, n = c.most_common(1)[0]
        if n >= 3 and 2 * n >= sum(c.values()):
            per_class[label].append((n, w))
    cats = [{"name": cl, "description": f"images whose {request_criterion(request)} is {cl}",
             "examples": [w for _, w in sorted(per_class[cl], reverse=True)[:3]]} for cl in classes]
    content = json.dumps({"categories": cats})
    body = {"id": "standin", "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}}
    return 200, json.dumps(body).encode(), "application/json"


def request_criterion(request):
    m = re.search(r"Sort the images into \d+ categories of (.+?)\.", request["messages"][-1]["content"])
    return m.group(1) if m else "kind"


def score_odd(result, odd_labels):
    o = subprocess.run([BIN, "eval", result, "--labels", odd_labels, "--json", "-"],
                       check=True, capture_output=True, text=True)
    s = json.loads(o.stdout)
    return s["acc"], s["nmi"]


def main():
    out_rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, index, crit, k, labels, column in SETS:
            rows = rows_of(index, labels, column)
            train, test = rows[0::2], rows[1::2]
            classes = sorted({r[2] for r in rows})
            if len(classes) != k:
                print(f"{name}: {len(classes)} classes for K = {k}, skipped", file=sys.stderr)
                continue
            odd = os.path.join(tmp, "odd.jsonl")
            with open(odd, "w") as f:
                for rid, _, label in test:
                    f.write(json.dumps({"id": rid, "label": label}) + "\n")

            def handle(method, route, body):
                if method == "GET":
                    return 404, b"", "application/json"
                return answer(json.loads(body), train, classes)
            srv = serve(handle)
            url = f"http://127.0.0.1:{srv.server_address[1]}/v1"
            zero = os.path.join(tmp, "zero.json")
            one = os.path.join(tmp, "one.json")
            cluster(index, crit, k, zero, ["--strategy", "zero-call"])
            r = cluster(index, crit, k, one, ["--strategy", "one-call", "--llm-base-url", url, "--llm-model", "standin",
                                               "--llm-context", str(CONTEXT), "--llm-retries", "0"])
            srv.shutdown()
            v = r["diagnostics"]["one_call"]["verdict"]
            verdict = v["outcome"] + (f" ({v.get('reason') or v.get('because')})" if len(v) > 1 else "")
            out_rows.append((name, score_odd(zero, odd), score_odd(one, odd), verdict))
            print(name, out_rows[-1], file=sys.stderr)
    path = os.path.join(ROOT, "notebooks/one_call_standin.md")
    with open(path, "w") as f:
        f.write("# The one call's ceiling: a stand-in that knows the classes\n\n"
                "Generated by `python3 notebooks/one_call_standin.py` (seed 42). The stand-in answers the real "
                "request with the class names, a line each, and three example words per class learnt from the even "
                "rows (the listed words whose captions are at least half that class, at least 3); scores are over "
                "the odd rows. Zero-call: the default query without the LLM.\n\n")
        f.write("| set | zero-call ACC / NMI | one call ACC / NMI | ΔACC | verdict |\n|---|---|---|---|---|\n")
        for name, (za, zn), (oa, on), verdict in out_rows:
            f.write(f"| {name} | {za:.3f} / {zn:.3f} | {oa:.3f} / {on:.3f} | {oa - za:+.3f} | {verdict} |\n")
    print("wrote", path, file=sys.stderr)


if __name__ == "__main__":
    main()
