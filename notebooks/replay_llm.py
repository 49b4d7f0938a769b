#!/usr/bin/env python3
"""Replays one recorded LLM exchange: an OpenAI-compatible endpoint on 127.0.0.1:PORT that answers
any chat completion with the recorded response (status and body) and writes to CHECK whether the
request's prompt and schema are the recorded ones. GETs (a client asking for the context window)
get 404, so the client must be told the window the recording was made with.
Usage: replay_llm.py PORT EXCHANGE.json CHECK_FILE
"""
import json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

port, exchange, check = int(sys.argv[1]), json.load(open(sys.argv[2])), sys.argv[3]

class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        self.send_response(404); self.send_header('Content-Length', '0'); self.end_headers()
    def do_POST(self):
        req = json.loads(self.rfile.read(int(self.headers.get('Content-Length', 0))))
        rec = exchange["request"]
        same = all(req.get(k) == rec.get(k) for k in ("messages", "response_format", "max_tokens"))
        open(check, "w").write("same request\n" if same else "DIFFERENT request\n")
        body = exchange["response"].encode()
        self.send_response(exchange["status"]); self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body))); self.end_headers(); self.wfile.write(body)

HTTPServer(('127.0.0.1', port), H).serve_forever()
