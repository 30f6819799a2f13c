#!/usr/bin/env python3
"""An HTTP(S) peer for the Schema Registry client's auth and TLS options
(tests/test_integration_avro.c): not a registry, only what proves what the
client sent.

    registry_auth_peer.py AUTHORIZATION [CERT KEY]

Listens on a free loopback port (HTTPS with CERT and KEY), prints the port
on stdout, and answers GET /schemas/ids/<id> with {"schema": "\"string\""}
when the request's Authorization header is exactly AUTHORIZATION, and 401
in the Confluent error shape otherwise. Runs until killed.
"""
import http.server
import json
import ssl
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.headers.get("Authorization", "") != sys.argv[1]:
            code, body = 401, {"error_code": 40101,
                               "message": "Unauthorized: got Authorization "
                               + repr(self.headers.get("Authorization"))}
        elif self.path.startswith("/schemas/ids/"):
            code, body = 200, {"schema": "\"string\""}
        else:
            code, body = 404, {"error_code": 40403, "message": "not here"}
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if len(sys.argv) > 3:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[2], sys.argv[3])
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
