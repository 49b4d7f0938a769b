#!/usr/bin/env python3
"""A stand-in LLM for experiments: an OpenAI-compatible chat endpoint on 127.0.0.1:PORT that
answers every request with {"names": [NAMES...]}. Used by namer_oracle.sh to measure the LLM
namer's check with a perfect answer (the true class names) and with a poor one, independently
of any model. Usage: fixed_answer_llm.py PORT NAME [NAME ...]
"""
import json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
names = sys.argv[2:]
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        self.send_response(200); self.send_header('Content-Type','application/json'); self.end_headers()
        self.wfile.write(b'{"data":[{"id":"oracle"}]}')
    def do_POST(self):
        n = int(self.headers.get('Content-Length', 0)); self.rfile.read(n)
        body = json.dumps({"id":"x","object":"chat.completion","model":"oracle","choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":json.dumps({"names":names})}}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}).encode()
        self.send_response(200); self.send_header('Content-Type','application/json'); self.send_header('Content-Length', str(len(body))); self.end_headers(); self.wfile.write(body)
HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()
