"""The LLM from Python: `Index.ictc` (the IC|TC baseline) and `namer="llm"`, against a stand-in
OpenAI-compatible endpoint on loopback that answers from the caption it is shown."""
import json
import re
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import clusterby

INSTRUMENTS = ["saxophone", "trumpet", "flute", "violin", "cello", "guitar", "harp"]


def instrument(text):
    """The instrument a text names most often (None when it names none)."""
    counts = Counter(w for w in re.findall(r"[a-z]+", text.lower()) if w in INSTRUMENTS)
    return counts.most_common(1)[0][0] if counts else None


def answer(prompt):
    if "Merge these labels" in prompt:
        return json.dumps({"names": [i.title() for i in INSTRUMENTS]})
    if "Sort the images into" in prompt:  # the one call's question, which the LLM namer asks too
        return json.dumps({"categories": [{"name": i.title(), "description": f"people playing the {i}",
                                           "examples": [i]} for i in INSTRUMENTS]})
    caption = prompt.split('"')[1] if '"' in prompt else ""
    found = instrument(caption)
    if "Which of these" in prompt:
        return json.dumps({"category": (found or "guitar").title()})
    return f"Answer: {found or 'musician'}"


@pytest.fixture(scope="module")
def endpoint():
    calls = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self._send({"data": [{"id": "stand-in"}]})

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            prompt = body["messages"][-1]["content"]
            calls.append(prompt)
            self._send({"id": "x", "object": "chat.completion", "model": "stand-in",
                        "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": answer(prompt)}}],
                        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}})

        def _send(self, obj):
            data = json.dumps(obj).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield clusterby.Llm(f"http://127.0.0.1:{server.server_address[1]}/v1", model="stand-in"), calls
    server.shutdown()


def test_ictc_labels_merges_and_assigns_every_caption_then_resumes_from_its_cache(ppmi7, endpoint, tmp_path):
    llm, calls = endpoint
    before = len(calls)
    r = ppmi7.ictc("musical instrument", 7, llm, cache=tmp_path / "answers.jsonl", limit=120)
    assert len(calls) - before == 2 * 120 + 1
    assert r.raw["strategy"] == "ictc" and r.raw["llm_calls"] == 241
    a = r.assignments
    assert len(a) == 120 and a["id"].tolist() == ppmi7.frame()["id"].tolist()[:120]
    assert set(r.clusters["name"]) <= {i.title() for i in INSTRUMENTS}
    assert r.eval().acc > 0.8
    again = ppmi7.ictc("musical instrument", 7, llm, cache=tmp_path / "answers.jsonl", limit=120)
    assert len(calls) - before == 241, "the second run is answered from the cache"
    assert again.labels.tolist() == r.labels.tolist()


def test_the_llm_namer_names_the_clusters_with_one_call(ppmi7, endpoint):
    llm, calls = endpoint
    before = len(calls)
    r = ppmi7.cluster(by="musical instrument", k=7, llm=llm, namer="llm")
    assert len(calls) - before == 1 and r.raw["llm_calls"] == 1
    assert r.raw["diagnostics"]["naming"]["namer"] == "llm", r.raw["diagnostics"]["naming"]
    assert set(r.clusters["name"].str.lower()) == set(INSTRUMENTS)


def test_zero_call_spends_nothing_and_bad_choices_name_the_argument(ppmi7, endpoint):
    llm, calls = endpoint
    before = len(calls)
    r = ppmi7.cluster(by="musical instrument", k=7, llm=llm, strategy="zero-call")
    assert len(calls) == before and r.raw["llm_calls"] == 0
    with pytest.raises(ValueError, match="strategy"):
        ppmi7.cluster(by="musical instrument", k=7, llm=llm, strategy="two-calls")
    with pytest.raises(ValueError, match="namer"):
        ppmi7.cluster(by="musical instrument", k=7, llm=llm, namer="poet")
    with pytest.raises(TypeError, match="llm"):
        ppmi7.cluster(by="musical instrument", k=7, llm=42)
