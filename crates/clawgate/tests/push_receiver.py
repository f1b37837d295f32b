#!/usr/bin/env python3
"""A stand-in push service for clawgate's Web Push test, written against libraries that are not
clawgate's: `cryptography` verifies the VAPID signature (RFC 8292) and `http_ece` decrypts the
aes128gcm payload (RFC 8291).

It listens on 127.0.0.1 (a free port) as one browser's push service and prints JSON lines:
  first   {"port", "p256dh", "auth"}: where to send and the browser's keys (base64url), to subscribe
  per push {"path", "status", "vapid_ok", "vapid_error", "aud", "sub", "k", "exp", "payload",
            "problems", "headers"}
Answers: 410 when the path contains "gone", else 201. A path containing "held" is answered only
once the line "release" arrives on stdin. The receiver exits when stdin closes.

Needs: pip install http_ece cryptography
"""

import base64
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

BROWSER_KEY = ec.generate_private_key(ec.SECP256R1())
AUTH_SECRET = os.urandom(16)
RELEASED = threading.Event()
PRINT_LOCK = threading.Lock()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def emit(obj) -> None:
    with PRINT_LOCK:
        print(json.dumps(obj), flush=True)


def check_vapid(authorization: str, origin: str) -> dict:
    """RFC 8292: `vapid t=<ES256 JWT>, k=<uncompressed P-256 key>`; aud is our origin, exp is in
    the future and at most 24 hours away, sub is present."""
    out = {"vapid_ok": False, "vapid_error": None, "aud": None, "sub": None, "k": None, "exp": None}
    scheme, _, params = authorization.partition(" ")
    if scheme.lower() != "vapid":
        out["vapid_error"] = "Authorization scheme is not vapid"
        return out
    fields = dict(p.strip().split("=", 1) for p in params.split(",") if "=" in p)
    token, key = fields.get("t", ""), fields.get("k", "")
    out["k"] = key
    try:
        head_b64, claims_b64, sig_b64 = token.split(".")
        header = json.loads(unb64url(head_b64))
        claims = json.loads(unb64url(claims_b64))
        if header.get("alg") != "ES256":
            raise ValueError(f"alg is {header.get('alg')!r}, not ES256")
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(key))
        raw_sig = unb64url(sig_b64)
        if len(raw_sig) != 64:
            raise ValueError("the signature is not 64 bytes (r || s)")
        der = encode_dss_signature(int.from_bytes(raw_sig[:32], "big"), int.from_bytes(raw_sig[32:], "big"))
        public.verify(der, f"{head_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    except (ValueError, TypeError, InvalidSignature) as e:
        out["vapid_error"] = f"bad token: {e!r}"
        return out
    out.update(aud=claims.get("aud"), sub=claims.get("sub"), exp=claims.get("exp"))
    now = time.time()
    if claims.get("aud") != origin:
        out["vapid_error"] = f"aud is not {origin}"
    elif not isinstance(claims.get("exp"), (int, float)) or not now < claims["exp"] <= now + 24 * 3600:
        out["vapid_error"] = "exp is not in the next 24 hours"
    elif not claims.get("sub"):
        out["vapid_error"] = "sub is missing"
    else:
        out["vapid_ok"] = True
    return out


class PushService(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        report = {"path": self.path, "status": 410 if "gone" in self.path else 201}
        report.update(check_vapid(self.headers.get("Authorization", ""), origin))
        problems = []
        if self.headers.get("Content-Encoding") != "aes128gcm":
            problems.append("Content-Encoding is not aes128gcm")
        if not (self.headers.get("TTL") or "").isdigit():
            problems.append("TTL header is missing or not a number")
        try:
            plain = http_ece.decrypt(
                body, private_key=BROWSER_KEY, dh=None, auth_secret=AUTH_SECRET, version="aes128gcm"
            )
            report["payload"] = json.loads(plain)
        except Exception as e:  # report it: the test shows what went wrong
            report["payload"] = None
            problems.append(f"cannot decrypt: {e!r}")
        report["problems"] = problems
        report["headers"] = {k.lower(): v for k, v in self.headers.items() if k.lower() != "authorization"}
        if problems and report["status"] == 201:
            report["status"] = 400
        emit(report)
        if "held" in self.path:
            RELEASED.wait()
        self.send_response(report["status"])
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass  # stdout carries the report; keep stderr for real errors


def watch_stdin() -> None:
    for line in sys.stdin:
        if line.strip() == "release":
            RELEASED.set()
    os._exit(0)  # the test is gone: so are we


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), PushService)
    server.daemon_threads = True
    public = BROWSER_KEY.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    emit({"port": server.server_address[1], "p256dh": b64url(public), "auth": b64url(AUTH_SECRET)})
    threading.Thread(target=watch_stdin, daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
