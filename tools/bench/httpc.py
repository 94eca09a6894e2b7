"""httpc.py - a tiny HTTP/1.1 client for the benchmarks (stdlib only).

http.client hides when the bytes of a response arrived and cannot be driven
from a select() loop; the watch and failover measurements need both, so
responses are parsed incrementally here and every read is timestamped by
the caller.
"""

import socket
import time
import urllib.parse


class Response:
    def __init__(self):
        self.status = 0
        self.headers = {}
        self.body = b""


class Parser:
    """Incremental response parser: feed() bytes until it returns True."""

    def __init__(self, head_only=False):
        self.buf = b""
        self.resp = Response()
        self.head_done = False
        self.head_only = head_only  # HEAD requests carry no body
        self.length = None
        self.chunked = False
        self.until_eof = False
        self.done = False

    def _parse_head(self):
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return False
        lines = self.buf[:end].decode("latin-1").split("\r\n")
        self.buf = self.buf[end + 4:]
        parts = lines[0].split(" ", 2)
        self.resp.status = int(parts[1])
        for line in lines[1:]:
            k, _, v = line.partition(":")
            self.resp.headers[k.strip().lower()] = v.strip()
        h = self.resp.headers
        if self.head_only or self.resp.status in (204, 304):
            self.length = 0
        elif "chunked" in h.get("transfer-encoding", "").lower():
            self.chunked = True
        elif "content-length" in h:
            self.length = int(h["content-length"])
        else:
            self.until_eof = True
        self.head_done = True
        return True

    def _parse_chunks(self):
        while True:
            eol = self.buf.find(b"\r\n")
            if eol < 0:
                return False
            size = int(self.buf[:eol].split(b";")[0], 16)
            if size == 0:
                # Trailers are never sent by etcd or ovld; wait for the
                # final CRLF only.
                if len(self.buf) < eol + 4:
                    return False
                self.buf = self.buf[eol + 4:]
                return True
            if len(self.buf) < eol + 2 + size + 2:
                return False
            self.resp.body += self.buf[eol + 2:eol + 2 + size]
            self.buf = self.buf[eol + 2 + size + 2:]

    def feed(self, data):
        """Adds bytes (b"" means EOF). Returns True once complete."""
        if data == b"":
            if self.until_eof and self.head_done:
                self.resp.body += self.buf
                self.done = True
                return True
            raise ConnectionError("connection closed mid-response")
        self.buf += data
        if not self.head_done and not self._parse_head():
            return False
        if self.chunked:
            self.done = self._parse_chunks()
        elif self.length is not None:
            if len(self.buf) >= self.length:
                self.resp.body = self.buf[:self.length]
                self.buf = self.buf[self.length:]
                self.done = True
        return self.done


def encode_request(method, host, path, body=None, headers=None):
    hdr = {"Host": host, "Connection": "keep-alive"}
    if body is not None:
        if isinstance(body, dict):
            body = urllib.parse.urlencode(body)
            hdr["Content-Type"] = "application/x-www-form-urlencoded"
        if isinstance(body, str):
            body = body.encode()
        hdr["Content-Length"] = str(len(body))
    hdr.update(headers or {})
    head = "%s %s HTTP/1.1\r\n" % (method, path)
    head += "".join("%s: %s\r\n" % kv for kv in hdr.items()) + "\r\n"
    return head.encode() + (body or b"")


class Conn:
    """Blocking keep-alive connection to 127.0.0.1:port."""

    def __init__(self, port, host="127.0.0.1", timeout=5.0):
        self.addr = (host, port)
        self.timeout = timeout
        self.sock = None

    def close(self):
        if self.sock:
            self.sock.close()
            self.sock = None

    def _connect(self, timeout):
        self.sock = socket.create_connection(self.addr, timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def request(self, method, path, body=None, headers=None, timeout=None):
        """Returns a Response, or raises OSError/ConnectionError."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        data = encode_request(method, "%s:%d" % self.addr, path, body,
                              headers)
        for attempt in (0, 1):
            fresh = self.sock is None
            try:
                if fresh:
                    self._connect(timeout)
                self.sock.settimeout(max(0.001, deadline - time.monotonic()))
                self.sock.sendall(data)
                p = Parser(head_only=(method == "HEAD"))
                while True:
                    self.sock.settimeout(
                        max(0.001, deadline - time.monotonic()))
                    chunk = self.sock.recv(65536)
                    if p.feed(chunk):
                        break
                if p.until_eof or \
                        p.resp.headers.get("connection", "") == "close":
                    self.close()
                return p.resp
            except (OSError, ConnectionError):
                self.close()
                # A kept-alive socket the server already closed fails on
                # first use; retry once on a new one, never on a fresh one.
                if fresh or attempt == 1 or time.monotonic() >= deadline:
                    raise
        raise ConnectionError("unreachable")


def get_json(port, path, timeout=2.0):
    """One-shot GET; returns (status, parsed JSON or None, headers)."""
    import json
    c = Conn(port, timeout=timeout)
    try:
        r = c.request("GET", path)
    finally:
        c.close()
    try:
        doc = json.loads(r.body) if r.body else None
    except ValueError:
        doc = None
    return r.status, doc, r.headers
