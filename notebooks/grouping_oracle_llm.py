#!/usr/bin/env python3
"""A stand-in LLM for experiments: an OpenAI-compatible chat endpoint on 127.0.0.1:PORT that
answers the one-call grouping prompt of `--conditioning names` as a model with world knowledge
would: every term listed in the prompt goes to the class that most of the captions mentioning it
carry in the ground truth (when that class holds at least MIN_SHARE of them, and at least
MIN_SUPPORT captions mention it), and the categories are named by the class names. With NOISE > 0
that share of the grouped terms is moved to a random other category (seeded), to see how the path
degrades with a worse model. FIT "even" learns the term -> class map from the even rows only, so
that the odd rows can be scored as held out: a term seen in three captions of one class is label
correlation, not world knowledge, and only what carries over to other captions counts there.
The ground truth lives here, in the experiment, never in clusterby.
Usage: grouping_oracle_llm.py PORT CAPTIONS.jsonl [MIN_SHARE [NOISE [FIT [MIN_SUPPORT]]]]
"""
import json, random, re, sys
from collections import Counter, defaultdict
from http.server import BaseHTTPRequestHandler, HTTPServer

port, path = int(sys.argv[1]), sys.argv[2]
min_share = float(sys.argv[3]) if len(sys.argv) > 3 else 0.5
noise = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
fit_even = len(sys.argv) > 5 and sys.argv[5] == "even"
min_support = int(sys.argv[6]) if len(sys.argv) > 6 else 1
rows = [json.loads(l) for l in open(path) if l.strip()]
classes = sorted({r["label"] for r in rows})
lower = [(r["caption"].lower(), r["label"]) for i, r in enumerate(rows) if not fit_even or i % 2 == 0]

def mentions(term):
    """The term as a whole word or phrase, singular or plural ("car" must not match "carriage")."""
    last = re.escape(term)
    if term.endswith("y"):
        last = re.escape(term[:-1]) + "(?:y|ies)"
    elif term.endswith("f"):
        last = re.escape(term[:-1]) + "(?:f|ves)"
    return re.compile(r"\b" + last + r"(?:s|es)?\b")

def grouping(terms):
    groups = defaultdict(list)
    rng = random.Random(7)
    for t in terms:
        pat = mentions(t)
        c = Counter(label for cap, label in lower if pat.search(cap))
        if not c:
            continue
        label, n = c.most_common(1)[0]
        if n / sum(c.values()) < min_share or sum(c.values()) < min_support:
            continue
        if noise and rng.random() < noise:
            label = rng.choice([x for x in classes if x != label])
        groups[label].append(t)
    return [{"name": c, "terms": groups.get(c, [])} for c in classes]

class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        self.send_response(200); self.send_header('Content-Type', 'application/json'); self.end_headers()
        self.wfile.write(b'{"data":[{"id":"oracle"}]}')
    def do_POST(self):
        n = int(self.headers.get('Content-Length', 0))
        req = json.loads(self.rfile.read(n))
        text = req["messages"][-1]["content"]
        listed = text.split("each:\n", 1)[1].split("\n\n", 1)[0]
        terms = [l.rsplit(":", 1)[0] for l in listed.splitlines() if ":" in l]
        content = json.dumps({"categories": grouping(terms)})
        body = json.dumps({"id": "x", "object": "chat.completion", "model": "oracle", "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}], "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}).encode()
        self.send_response(200); self.send_header('Content-Type', 'application/json'); self.send_header('Content-Length', str(len(body))); self.end_headers(); self.wfile.write(body)

HTTPServer(('127.0.0.1', port), H).serve_forever()
