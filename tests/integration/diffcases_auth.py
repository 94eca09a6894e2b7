"""diffcases_auth - the differential suite's etcd v2 auth cases.

Auth state is global to a server, so every case starts with auth disabled,
no users and no roles but root's, and leaves them so (its last steps clean
up as root). Paths in role permissions hold the case's key prefix (bodies
computed per server). Key requests compare everything but store
indexes (cmp="noindex"): etcd stores users and roles under its hidden /2
and moves its store index with each change, ovld keeps them in replicated
metadata.
"""

import base64
import json

from diffcore import DEL, GET, PUT, R, Case

A = "/v2/auth"


def basic(user, pw):
    tok = base64.b64encode(("%s:%s" % (user, pw)).encode()).decode()
    return {"Authorization": "Basic " + tok}


ROOT = basic("root", "rootpw")
JS = "application/json"


def body(doc):
    """A JSON body; callables inside get the server's case context (for
    key patterns under the case prefix)."""
    def f(ctx):
        def walk(v):
            if callable(v):
                return v(ctx)
            if isinstance(v, dict):
                return {k: walk(x) for k, x in v.items()}
            if isinstance(v, list):
                return [walk(x) for x in v]
            return v
        return json.dumps(walk(doc))
    return f


def pat(suffix):
    """A key pattern under the case's prefix."""
    return lambda ctx: ctx.prefix + suffix


def KGET(path, q=None, **kw):
    return GET(path, q=q, cmp="noindex", **kw)


def KPUT(path, **kw):
    return PUT(path, cmp="noindex", **kw)


def KDEL(path, **kw):
    return DEL(path, cmp="noindex", **kw)


def UPUT(name, doc, st, h=None):
    return PUT(A + "/users/" + name, body=body(doc), ctype=JS, st=st,
               headers=h)


def RPUT(name, doc, st, h=None):
    return PUT(A + "/roles/" + name, body=body(doc), ctype=JS, st=st,
               headers=h)


def create_root():
    return UPUT("root", {"user": "root", "password": "rootpw"}, 201)


def cleanup(users=(), roles=()):
    """Disables auth (if on) and removes what the case made, as root."""
    steps = [R("DELETE", A + "/enable", headers=ROOT, cmp="none")]
    steps += [R("DELETE", A + "/users/" + u, headers=ROOT, cmp="none")
              for u in users]
    steps += [R("DELETE", A + "/roles/" + r, headers=ROOT, cmp="none")
              for r in roles]
    steps.append(GET(A + "/enable", st=200))
    return steps


def cases_auth_api():
    return [
        Case("auth-off", "auth disabled: state, enable without root, "
             "empty listings, 404s, 405s, bad paths",
             [GET(A + "/enable", st=200),
              R("PUT", A + "/enable", st=409),
              R("DELETE", A + "/enable", st=409),
              R("POST", A + "/enable", st=405),
              GET(A + "/users", st=200),
              GET(A + "/roles", st=200),
              GET(A + "/users/", st=200),
              GET(A + "/users/nobody", st=404),
              GET(A + "/roles/nothing", st=404),
              DEL(A + "/users/nobody", st=404),
              DEL(A + "/roles/nothing", st=404),
              GET(A + "/roles/root", st=200),
              R("PUT", A + "/users", st=405),
              R("DELETE", A + "/roles", st=405),
              R("POST", A + "/users/x", st=405),
              GET(A + "/users/a/b", st=400),
              GET(A + "/roles/a/b/c", st=400),
              GET(A + "/nothing", st=404)]),
        Case("auth-user-crud", "users: create, update, grant, revoke, "
             "delete and their errors and shapes",
             [UPUT("u1", {"user": "u1", "password": "p1"}, 201),
              GET(A + "/users/u1", st=200),
              UPUT("u1", {"user": "u1", "password": "p2"}, 200),
              UPUT("u1", {"user": "u1"}, 400),
              UPUT("u1", {"user": "u1", "password": "x",
                          "roles": ["r1"]}, 409),
              UPUT("u2", {"user": "u2"}, 400),
              UPUT("u2", {"user": "u3", "password": "p"}, 400),
              PUT(A + "/users/u2", body="{not json", ctype=JS, st=400),
              PUT(A + "/users/u2", body="", ctype=JS, st=400),
              PUT(A + "/users/u2", body='{"user":"u2","roles":"r"}',
                  ctype=JS, st=400),
              UPUT("u1", {"user": "u1", "grant": ["r1"]}, 200),
              GET(A + "/users/u1", st=404),
              GET(A + "/users", st=200),
              UPUT("u1", {"user": "u1", "grant": ["r1"]}, 409),
              UPUT("u1", {"user": "u1", "revoke": ["r2"]}, 409),
              UPUT("u1", {"user": "u1", "roles": ["a"],
                          "grant": ["r2"]}, 400),
              UPUT("u1", {"user": "u1", "revoke": ["r1"]}, 200),
              UPUT("nobody", {"user": "nobody", "grant": ["r1"]}, 404),
              UPUT("u4", {"user": "u4", "password": "p4",
                          "roles": ["r9", "r8"]}, 200),
              GET(A + "/users", st=200),
              DEL(A + "/users/u1", st=200),
              DEL(A + "/users/u1", st=404),
              DEL(A + "/users/u4", st=200),
              GET(A + "/users", st=200)]),
        Case("auth-role-crud", "roles: create, grant, revoke, delete, the "
             "root role and their errors and shapes",
             [RPUT("r1", {"role": "r1", "permissions": {"kv": {
                 "read": ["/a/*"], "write": []}}}, 201),
              RPUT("r1", {"role": "r1"}, 409),
              RPUT("r2", {"role": "r2"}, 201),
              GET(A + "/roles/r2", st=200),
              RPUT("root", {"role": "root"}, 403),
              GET(A + "/roles/r1", st=200),
              GET(A + "/roles", st=200),
              RPUT("r1", {"role": "r1", "grant": {"kv": {
                  "read": ["/b"], "write": ["/a/*"]}}}, 200),
              RPUT("r1", {"role": "r1", "grant": {"kv": {
                  "read": ["/b"]}}}, 409),
              RPUT("r1", {"role": "r1", "grant": {"kv": {
                  "write": ["/a/*"]}}}, 409),
              RPUT("r1", {"role": "r1", "revoke": {"kv": {
                  "read": ["/zzz"]}}}, 400),
              RPUT("r1", {"role": "r1", "revoke": {"kv": {
                  "read": ["/b", "/zzz"]}}}, 200),
              RPUT("r1", {"role": "r1", "permissions": {"kv": {
                  "read": ["/c"]}}, "grant": {"kv": {"read": ["/d"]}}},
                  400),
              RPUT("nope", {"role": "nope", "grant": {"kv": {
                  "read": ["/d"]}}}, 404),
              RPUT("root", {"role": "root", "grant": {"kv": {
                  "read": ["/d"]}}}, 403),
              RPUT("r3", {"role": "r4"}, 400),
              PUT(A + "/roles/r3", body="[1]", ctype=JS, st=400),
              DEL(A + "/roles/root", st=403),
              DEL(A + "/roles/r1", st=200),
              DEL(A + "/roles/r1", st=404),
              DEL(A + "/roles/r2", st=200),
              GET(A + "/roles", st=200)]),
    ]


def cases_auth_enabled():
    return [
        Case("auth-enable-guest", "root, enable, guest access, root only "
             "for the auth API, wrong passwords, disable",
             [create_root(),
              GET(A + "/users/root", st=200),
              R("PUT", A + "/enable", st=200),
              GET(A + "/enable", st=200),
              R("PUT", A + "/enable", st=401),
              R("PUT", A + "/enable", headers=ROOT, st=409),
              GET(A + "/users", st=401),
              GET(A + "/users", headers=basic("root", "wrong"), st=401),
              GET(A + "/users", headers={"Authorization": "Basic !!"},
                  st=401),
              GET(A + "/roles", headers=ROOT, st=200),
              GET(A + "/roles/guest", headers=ROOT, st=200),
              KPUT("~/g", f={"value": "1"}, st=201),
              KGET("~/g", st=200),
              KGET("~/g", headers=basic("root", "wrong"), st=401),
              KGET("~/g", headers=basic("ghost", "x"), st=401),
              KGET("/v2/keys", st=401),
              GET("/v2/keys/", st=200, cmp="status"),
              DEL(A + "/users/root", headers=ROOT, st=403),
              R("DELETE", A + "/enable", st=401),
              R("DELETE", A + "/enable", headers=ROOT, st=200),
              GET(A + "/enable", st=200),
              GET(A + "/users", st=200),
              ] + cleanup(users=["root"], roles=["guest"])),
        Case("auth-prefix-user", "a user whose role allows a prefix reads "
             "and writes inside it only; guest without rights; password "
             "change",
             [create_root(),
              RPUT("ra", {"role": "ra", "permissions": {"kv": {
                  "read": [pat("/in/*"), pat("/ro")],
                  "write": [pat("/in/*")]}}}, 201),
              UPUT("u", {"user": "u", "password": "upw",
                         "roles": ["ra"]}, 200),
              GET(A + "/users/u", st=200),
              R("PUT", A + "/enable", st=200),
              RPUT("guest", {"role": "guest", "revoke": {"kv": {
                  "read": ["/*"], "write": ["/*"]}}}, 200, h=ROOT),
              KPUT("~/in/k", f={"value": "v"}, headers=basic("u", "upw"),
                  st=201),
              KGET("~/in/k", headers=basic("u", "upw"), st=200),
              KGET("~/in/k", headers=basic("u", "upw"), st=200),
              KPUT("~/out", f={"value": "v"}, headers=basic("u", "upw"),
                  st=401),
              KGET("~/out", headers=basic("u", "upw"), st=401),
              KGET("~/ro", headers=basic("u", "upw"), st=404),
              KPUT("~/ro", f={"value": "v"}, headers=basic("u", "upw"),
                  st=401),
              KGET("~/in", q={"recursive": "true"},
                  headers=basic("u", "upw"), st=401),
              KGET("~/in/", q={"recursive": "true"},
                  headers=basic("u", "upw"), st=200),
              KDEL("~/in/k", headers=basic("u", "upw"), st=200),
              KGET("~/in/k", st=401),
              KPUT("~/in/k", f={"value": "v"}, st=401),
              KGET("~/in/k", headers=basic("u", "bad"), st=401),
              # etcd redirects an unclean path, then checks the clean one;
              # ovld serves it at once and must check the clean one too
              KPUT("~/in/../out", f={"value": "v"},
                   headers=basic("u", "upw"), st=401, ref_path="~/out"),
              KPUT("~/in//k2", f={"value": "v"},
                   headers=basic("u", "upw"), st=201,
                   ref_path="~/in/k2"),
              KGET("~/out", headers=ROOT, st=404),
              GET(A + "/users", headers=basic("u", "upw"), st=401),
              UPUT("u", {"user": "u", "password": "new"}, 200, h=ROOT),
              KGET("~/in/k", headers=basic("u", "upw"), st=401),
              KGET("~/in/k", headers=basic("u", "new"), st=404),
              UPUT("u", {"user": "u", "revoke": ["ra"]}, 200, h=ROOT),
              KGET("~/in/k", headers=basic("u", "new"), st=401),
              ] + cleanup(users=["u", "root"], roles=["ra", "guest"])),
    ]


def cases_auth():
    return cases_auth_api() + cases_auth_enabled()
