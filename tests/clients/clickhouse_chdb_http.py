# Copied from /work/shared/infra/clickhouse_chdb_http.py (the company's shared test infrastructure):
# the ClickHouse 26.x engine (chDB) behind a minimal HTTP front, for tests/e2e_clickhouse.rs.
# Needs the PyPI package chdb-core (tests/clients/requirements.txt).
# weir's change to the copy: an optional HTTPS listener (TLS_PORT CERT KEY) beside the plain
# one, so tests/e2e_clickhouse.rs can check the exporter's TLS, as ClickHouse's https_port does.
"""Minimal ClickHouse-HTTP-interface shim over chDB (in-process ClickHouse 26.x).
Not a real server: one connection, serialized queries, no compression, no sessions.
usage: python chdb_http.py PORT DATA_DIR [TLS_PORT CERT_FILE KEY_FILE]"""
import ssl, sys, threading, urllib.parse, re
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
from chdb import _chdb

PORT, DATA = int(sys.argv[1]), sys.argv[2]
conn = _chdb.connect(DATA)
conn.query("SET max_query_size = 1073741824", "TabSeparated")  # inline INSERT data counts against it
lock = threading.Lock()
INS = re.compile(r"^\s*(INSERT\s+INTO\s+.*?)\s+FORMAT\s+(\w+)\s*$", re.I | re.S)
SKIP = {"query", "database", "default_format", "query_id", "session_id", "compress", "decompress",
        "user", "password", "wait_end_of_query", "session_timeout", "session_check"}

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def reply(self, code, body, extra=()):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "text/plain; charset=UTF-8")
        for k, v in extra: self.send_header(k, v)
        self.end_headers(); self.wfile.write(body)
    def body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                n = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if n == 0: self.rfile.readline(); return out
                out += self.rfile.read(n); self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
    def do_GET(self): self.handle_q(b"")
    def do_POST(self):
        b = self.body()
        self.handle_q(b)
    def handle_q(self, body):
        u = urllib.parse.urlsplit(self.path)
        if u.path in ("/ping", "/"):
            params = dict(urllib.parse.parse_qsl(u.query, keep_blank_values=True))
            if u.path == "/ping" or ("query" not in params and not body):
                return self.reply(200, b"Ok.\n")
        else:
            return self.reply(404, b"not found\n")
        if params.get("compress") == "1" or params.get("decompress") == "1":
            return self.reply(500, b"Code: 1. DB::Exception: chdb shim: compression not supported (use Compression::None)\n",
                              [("X-ClickHouse-Exception-Code", "1")])
        q = params.get("query", "").encode() 
        q = q + (b"\n" if q else b"") + body
        fmt = params.get("default_format", "TabSeparated")
        pre = []
        if "database" in params: pre.append("USE `%s`" % params["database"])
        for k, v in params.items():
            if k not in SKIP and not k.startswith("param_") and re.fullmatch(r"[A-Za-z0-9_]+", k):
                pre.append("SET %s = '%s'" % (k, v.replace("'", "\\'")))
        with lock:
            try:
                for p in pre: conn.query(p, "TabSeparated")
                m = INS.match(params.get("query", "")) if body else None
                if m:  # INSERT ... FORMAT X with data in body: stream it (inline data is cut at max_query_size)
                    ins = conn.send_insert(m.group(1), m.group(2))
                    try:
                        conn.insert_append(ins, body)
                        conn.insert_done(ins)
                    except Exception:
                        try: conn.insert_cancel(ins)
                        except Exception: pass
                        raise
                    out = b""
                else:
                    r = conn.query(q, fmt)
                    out = r.bytes() or b""
            except Exception as e:
                msg = str(e).encode()
                m = re.search(rb"Code: (\d+)", msg)
                return self.reply(500, msg + b"\n", [("X-ClickHouse-Exception-Code", (m.group(1) if m else b"1").decode())])
        self.reply(200, out, [("X-ClickHouse-Format", fmt)])

if len(sys.argv) > 5:
    tls = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[3])), H)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[4], sys.argv[5])
    tls.socket = ctx.wrap_socket(tls.socket, server_side=True)
    threading.Thread(target=tls.serve_forever, daemon=True).start()
ThreadingHTTPServer(("127.0.0.1", PORT), H).serve_forever()
