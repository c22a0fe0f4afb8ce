#!/usr/bin/env python3
"""A functional check of deploy/haproxy/haproxy.cfg without a gateway.

Runs the real config (static server mode) in front of three stand-in
backends on 127.0.0.1 that answer with their own name, and checks what the
config promises:

- the same tenant token always lands on the same backend;
- a path tenant (/v1/tenants/T/..., /v1/inbound/T/...) and a token tenant
  (wct_T_...) with the same id land on the same backend, and the path wins
  over the token;
- tenants spread over all three backends, while requests without a tenant
  (admin key, no credential, malformed token, invalid id) go round robin;
- no Server or X-Powered-By header reaches the client;
- a backend whose /readyz answers 503 (draining) leaves the rotation, only
  its tenants move, and they come back when it is ready again;
- with no backend ready, HAProxy answers 503 in the gateway's error shape
  with Retry-After.

Usage: hash-check.py HAPROXY_BINARY CONFIG. Exit 0 when everything holds.
Everything listens on 127.0.0.1 only, every wait has a deadline, and all
processes and threads it starts are stopped before it exits.
"""

import http.server
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

# How long a state change may take to show: checks run every 2 s (500 ms
# after a first failure), fall 2 / rise 2. A deadline, not a speed claim.
DEADLINE_S = 30
HEX12 = "0123456789ab"
HEX32 = "0123456789abcdef0123456789abcdef"
ADMIN = "Bearer wca_" + "0" * 32


def token(tenant):
    return f"Bearer wct_{tenant}_{HEX12}_{HEX32}"


class Quiet(http.server.ThreadingHTTPServer):
    # HAProxy ends its health checks with a reset (no TIME_WAIT), which the
    # standard server would print as a traceback each time.
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass


class Backend:
    """A stand-in replica: answers every request with its name."""

    def __init__(self, name):
        self.name = name
        self.ready = True
        self.checks = 0
        backend = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def handle_any(self):
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                status, body = 200, {"backend": backend.name}
                if self.path == "/readyz":
                    backend.checks += 1
                    if not backend.ready:
                        status, body = 503, {"error": {"code": "draining", "message": "stand-in"}}
                data = json.dumps(body).encode()
                self.send_response(status)
                # Headers the config must strip before the client sees them
                # (BaseHTTPRequestHandler also sends its own Server header).
                self.send_header("x-powered-by", "stand-in")
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = handle_any

            def log_message(self, *args):
                pass

        self.server = Quiet(("127.0.0.1", 0), Handler)
        self.addr = "127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"
        # Straight to 127.0.0.1, whatever http_proxy the environment names.
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def request(self, path, auth=None, method="GET"):
        """(status, headers, body) of one request on a new connection; the
        body as JSON when it is JSON, else as text."""
        req = urllib.request.Request(self.base + path, method=method)
        if auth:
            req.add_header("authorization", auth)
        try:
            with self.opener.open(req, timeout=10) as r:
                status, headers, raw = r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            status, headers, raw = e.code, e.headers, e.read()
        try:
            return status, headers, json.loads(raw or b"null")
        except ValueError:
            return status, headers, raw.decode(errors="replace")

    def backend(self, path, auth=None):
        status, _, body = self.request(path, auth)
        if status != 200 or not isinstance(body, dict) or "backend" not in body:
            raise AssertionError(f"{path}: {status} {body}")
        return body["backend"]


def wait_until(what, cond):
    end = time.monotonic() + DEADLINE_S
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {DEADLINE_S} s: {what}")


def main():
    haproxy, config = sys.argv[1], sys.argv[2]
    backends = [Backend(f"r{i}") for i in range(3)]
    port = free_port()
    env = dict(os.environ)
    env.update(
        WASMCLAW_LB_SERVERS="static",
        WASMCLAW_LB_BIND=f"127.0.0.1:{port}",
        **{f"WASMCLAW_R{i}": b.addr for i, b in enumerate(backends)},
    )
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen([haproxy, "-db", "-f", config], env=env, stdout=log, stderr=subprocess.STDOUT)
    ok = []
    try:
        c = Client(port)

        def check(name, fn):
            fn()
            ok.append(name)
            print(f"  ok: {name}")

        def listening():
            if proc.poll() is not None:
                raise AssertionError(f"haproxy exited with {proc.returncode}")
            try:
                return c.request("/v1/usage", ADMIN)[0] == 200
            except OSError:
                return False

        wait_until("haproxy answers and every backend saw a check",
                   lambda: listening() and all(b.checks >= 1 for b in backends))

        tenants = [f"t{i}" for i in range(60)] + ["acme", "a-b-c", "x" * 63, "0"]
        owner = {t: c.backend("/v1/skills", token(t)) for t in tenants}

        def same_token_same_backend():
            for t in tenants[:20]:
                seen = {c.backend("/v1/skills", token(t)) for _ in range(5)}
                assert seen == {owner[t]}, f"{t}: {seen}"

        def path_and_token_hash_alike():
            for t in tenants:
                for path in (f"/v1/tenants/{t}/skills", f"/v1/tenants/{t}", f"/v1/inbound/{t}/tg"):
                    got = c.backend(path, ADMIN)
                    assert got == owner[t], f"{path} -> {got}, token of {t} -> {owner[t]}"
                    assert c.backend(path) == owner[t], f"{path} without credential"
            # The path wins over the token, as in the gateway.
            a, b = next((a, b) for a in tenants for b in tenants if owner[a] != owner[b])
            got = c.backend(f"/v1/tenants/{a}/skills", token(b))
            assert got == owner[a], f"path {a} with token of {b} -> {got}, want {owner[a]}"

        def tenants_spread():
            counts = {b.name: 0 for b in backends}
            for t in tenants:
                counts[owner[t]] += 1
            assert all(n > 0 for n in counts.values()), counts
            print(f"    {len(tenants)} tenants over the backends: {counts}")

        def no_tenant_round_robin():
            for what, path, auth in [
                ("admin key", "/v1/usage", ADMIN),
                ("no credential", "/metrics", None),
                ("tenant list", "/v1/tenants", ADMIN),
                ("upper-case tenant in a token", "/v1/skills", token("Acme")),
                ("token with a short id", "/v1/skills", f"Bearer wct_acme_{HEX12[:11]}_{HEX32}"),
                ("token with a trailing part", "/v1/skills", token("acme") + "_x"),
                ("tenant id with a leading '-'", "/v1/tenants/-acme/skills", ADMIN),
                ("tenant id of 64 characters", "/v1/tenants/" + "x" * 64 + "/skills", ADMIN),
                ("lower-case bearer", "/v1/skills", token("acme").replace("Bearer", "bearer")),
            ]:
                seen = {c.backend(path, auth) for _ in range(6)}
                assert len(seen) >= 2, f"{what}: always {seen}"

        def no_server_header():
            status, headers, _ = c.request("/v1/skills", token("acme"))
            assert status == 200
            for h in ("server", "x-powered-by"):
                assert headers.get(h) is None, f"{h}: {headers.get(h)}"

        def draining_backend_leaves_and_returns():
            drained = next(b for b in backends if b.name == owner["acme"])
            drained.ready = False
            wait_until(f"acme moves off {drained.name}",
                       lambda: c.backend("/v1/skills", token("acme")) != drained.name)
            now = {t: c.backend("/v1/skills", token(t)) for t in tenants}
            moved = [t for t in tenants if now[t] != owner[t]]
            assert all(owner[t] == drained.name for t in moved), "a tenant of another backend moved"
            assert sorted(moved) == sorted(t for t in tenants if owner[t] == drained.name), moved
            drained.ready = True
            wait_until(f"acme is back on {drained.name}",
                       lambda: c.backend("/v1/skills", token("acme")) == drained.name)
            back = {t: c.backend("/v1/skills", token(t)) for t in tenants}
            assert back == owner, "tenants did not all return to their backend"

        def none_ready_is_a_json_503():
            for b in backends:
                b.ready = False
            wait_until("no backend ready", lambda: c.request("/v1/usage", ADMIN)[0] == 503)
            status, headers, body = c.request("/v1/skills", token("acme"))
            assert status == 503, status
            assert isinstance(body, dict) and body.get("error", {}).get("code") == "unavailable", body
            assert headers.get("retry-after") == "1", headers.get("retry-after")
            for b in backends:
                b.ready = True

        check("the same tenant token lands on the same backend", same_token_same_backend)
        check("a path tenant and a token tenant hash alike; the path wins", path_and_token_hash_alike)
        check("tenants spread over all three backends", tenants_spread)
        check("no tenant (admin key, none, malformed): round robin", no_tenant_round_robin)
        check("no Server or X-Powered-By header reaches the client", no_server_header)
        check("a draining backend leaves; only its tenants move, and come back", draining_backend_leaves_and_returns)
        check("no backend ready: 503 in the gateway's error shape, Retry-After", none_ready_is_a_json_503)
    except AssertionError as e:
        log.seek(0)
        sys.stderr.write(log.read().decode(errors="replace")[-4000:])
        print(f"  FAILED: {e}", file=sys.stderr)
        return 1
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for b in backends:
            b.stop()
    print(f"  haproxy hash check: {len(ok)} checks held")
    return 0


if __name__ == "__main__":
    sys.exit(main())
