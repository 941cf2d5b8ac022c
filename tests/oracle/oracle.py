#!/usr/bin/env python3
"""Independent password-scheme oracle for locksmith's cross-check tests.

Usage:  oracle.py verify KIND   <  {"password": ..., "login": ..., "salt": ..., "stored": ..., params...}
        oracle.py hash KIND     <  {"password": ..., "login": ..., params...}

Prints {"ok": true|false} for verify, {"stored": ..., "salt": ...} for hash.
Passwords travel only on stdin, never in argv. Errors go to stderr, exit 2.

Implementations are deliberately independent of the Rust code: pyca `bcrypt`,
passlib (crypt formats, pbkdf2), argon2-cffi, pycryptodome (JeecgBoot PBE)
and hashlib for the fixed vendor digest recipes.

KINDs and their parameters:
  bcrypt               prefix ("2a"|"2b"|"2y"), cost
  suitecrm             bcrypt of md5hex(password); prefix, cost
  argon2               variant ("argon2id"|"argon2i"), m_cost, t_cost, p_cost
  md5_crypt            salt (optional)
  sugarcrm             md5_crypt of md5hex(password); salt (optional)
  sha256_crypt         salt, rounds (optional)
  sha512_crypt         salt, rounds (optional)
  espo_legacy          sha512_crypt of md5hex(password), salt required, "$6$salt$" stripped
  pbkdf2_sha1 | pbkdf2_sha256 | pbkdf2_sha512   rounds, salt_bytes (passlib)
  django_pbkdf2_sha256 | django_pbkdf2_sha1      rounds
  jeecg                iterations (default 1000); salt (8 chars) for verify
  wukong11             md5(login + password + 'erp' + salt), salt 32 hex
  wukong_php           md5(sha1(p) + md5(p + salt)), salt 4 hex
  ruoyi                md5(login + password + salt), salt 6 hex
  odoo                 Odoo 17+'s own CryptContext(['pbkdf2_sha512', 'plaintext'],
                       pbkdf2_sha512__rounds=600000): verify = what login accepts
  odoo_needs_update    the same context: would Odoo rehash this stored value at login?
  kingdee_fsid         Kingdee K/3 WISE FSID (third-party description, closed-systems.md §1.1):
                       prefix (default true); binascii's uuencode of UTF-16LE(head text +
                       password), so not Locksmith's bit packing; verify ignores trailing spaces
"""

import binascii
import hashlib
import hmac
import json
import secrets
import sys
import uuid

JEECG_ALPHABET = "qwertyuioplkjhgfdsazxcvbnmQAZWSXEDCRFVTGBYHNUJMIKLOP0123456789"


def md5hex(s: str) -> str:
    return hashlib.md5(s.encode("utf-8")).hexdigest()


def sha1hex(s: str) -> str:
    return hashlib.sha1(s.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------- bcrypt

def bcrypt_hash(secret: str, prefix: str, cost: int) -> str:
    import bcrypt

    salt = bcrypt.gensalt(rounds=int(cost), prefix=b"2b")
    out = bcrypt.hashpw(secret.encode("utf-8"), salt).decode("ascii")
    # Same algorithm for 2a/2b/2y: only the label differs.
    return "$" + prefix + out[3:]


def bcrypt_verify(secret: str, stored: str) -> bool:
    import bcrypt

    # pyca bcrypt understands $2a$/$2b$/$2y$.
    return bcrypt.checkpw(secret.encode("utf-8"), stored.encode("ascii"))


# ---------------------------------------------------------------- argon2

def argon2_type(variant: str):
    from argon2 import Type

    return {"argon2id": Type.ID, "argon2i": Type.I}[variant]


def argon2_hash(pw: str, req: dict) -> str:
    from argon2 import PasswordHasher

    ph = PasswordHasher(
        time_cost=int(req["t_cost"]),
        memory_cost=int(req["m_cost"]),
        parallelism=int(req["p_cost"]),
        type=argon2_type(req.get("variant", "argon2id")),
    )
    return ph.hash(pw)


def argon2_verify(pw: str, stored: str) -> bool:
    from argon2 import PasswordHasher
    from argon2.exceptions import VerifyMismatchError

    try:
        return PasswordHasher().verify(stored, pw)
    except VerifyMismatchError:
        return False


# ---------------------------------------------------------------- crypt(3)

def crypt_handler(kind: str):
    from passlib.hash import md5_crypt, sha256_crypt, sha512_crypt

    return {"md5": md5_crypt, "sha256": sha256_crypt, "sha512": sha512_crypt}[kind]


def crypt_hash(kind: str, secret: str, req: dict) -> str:
    h = crypt_handler(kind)
    opts = {}
    if req.get("salt"):
        opts["salt"] = req["salt"]
    if kind != "md5":
        # passlib's default is 535000/656000; crypt(3)'s default is 5000, which
        # passlib writes without "rounds=" (implicit rounds).
        opts["rounds"] = int(req.get("rounds") or 5000)
    return h.using(**opts).hash(secret)


def crypt_verify(kind: str, secret: str, stored: str) -> bool:
    return crypt_handler(kind).verify(secret, stored)


def espo_prefix(req: dict) -> str:
    return "$6$" + req["salt"] + "$"


# ---------------------------------------------------------------- pbkdf2

def passlib_pbkdf2(kind: str):
    from passlib.hash import pbkdf2_sha1, pbkdf2_sha256, pbkdf2_sha512

    return {"pbkdf2_sha1": pbkdf2_sha1, "pbkdf2_sha256": pbkdf2_sha256, "pbkdf2_sha512": pbkdf2_sha512}[kind]


def django_pbkdf2(kind: str):
    from passlib.hash import django_pbkdf2_sha1, django_pbkdf2_sha256

    return {"django_pbkdf2_sha1": django_pbkdf2_sha1, "django_pbkdf2_sha256": django_pbkdf2_sha256}[kind]


# ---------------------------------------------------------------- JeecgBoot

def jeecg_encrypt(password: str, login: str, salt: str, iterations: int) -> str:
    from Crypto.Cipher import DES
    from Crypto.Hash import MD5
    from Crypto.Protocol.KDF import PBKDF1
    from Crypto.Util.Padding import pad

    # JDK PBEKey: printable ASCII only.
    if any(not (0x20 <= ord(c) <= 0x7E) for c in password):
        raise ValueError("Password is not ASCII")
    salt_b = salt.encode("ascii")
    if len(salt_b) != 8:
        raise ValueError("salt must be 8 bytes")
    dk = PBKDF1(password.encode("ascii"), salt_b, 16, count=iterations, hashAlgo=MD5)
    cipher = DES.new(dk[:8], DES.MODE_CBC, iv=dk[8:16])
    return cipher.encrypt(pad(login.encode("utf-8"), 8)).hex()


# ---------------------------------------------------------------- digests

def digest_compute(kind: str, pw: str, login: str, salt: str) -> str:
    if kind == "wukong11":
        return md5hex(login + pw + "erp" + salt)
    if kind == "wukong_php":
        return md5hex(sha1hex(pw) + md5hex(pw + salt))
    if kind == "ruoyi":
        return md5hex(login + pw + salt)
    raise KeyError(kind)


def digest_new_salt(kind: str) -> str:
    if kind == "wukong11":
        return uuid.uuid4().hex
    if kind == "wukong_php":
        return secrets.token_hex(2)
    if kind == "ruoyi":
        return secrets.token_hex(3)
    raise KeyError(kind)


# ---------------------------------------------------------------- Kingdee FSID

# The text whose encoding is the generator's fixed 50-character head.
FSID_HEAD_TEXT = "$&#346+dianhq#whme%"
FSID_HEAD = ")  F \", ,P T #8 *P!D &D 80!N &@ <0 C '< : !M &4 )0"


def kingdee_fsid(password: str, prefix: bool = True) -> str:
    """uuencode (space for zero) of UTF-16LE(head text + password), cut to whole 6-bit groups."""
    if not password or any(not ("!" <= ch <= "~") for ch in password):
        raise ValueError("the generator's table covers printable ASCII without space only")
    data = (FSID_HEAD_TEXT + password).encode("utf-16-le")
    body = ""
    for at in range(0, len(data), 45):  # b2a_uu takes at most 45 bytes per line
        line = binascii.b2a_uu(data[at:at + 45], backtick=False).decode("ascii")
        body += line[1:].rstrip("\n")  # drop the length character and the newline
    groups = -(-len(data) * 8 // 6)  # the last group is zero-padded
    out = body[:groups]
    assert out.startswith(FSID_HEAD), "the head text no longer encodes to the generator's head"
    return out if prefix else out[len(FSID_HEAD):]


# ---------------------------------------------------------------- dispatch

def do_hash(kind: str, req: dict) -> dict:
    pw = req["password"]
    login = req.get("login", "")
    if kind == "bcrypt":
        return {"stored": bcrypt_hash(pw, req.get("prefix", "2b"), req.get("cost", 10)), "salt": None}
    if kind == "suitecrm":
        return {"stored": bcrypt_hash(md5hex(pw), req.get("prefix", "2y"), req.get("cost", 10)), "salt": None}
    if kind == "argon2":
        return {"stored": argon2_hash(pw, req), "salt": None}
    if kind in ("md5_crypt", "sha256_crypt", "sha512_crypt"):
        return {"stored": crypt_hash(kind.split("_")[0], pw, req), "salt": None}
    if kind == "sugarcrm":
        return {"stored": crypt_hash("md5", md5hex(pw), req), "salt": None}
    if kind == "espo_legacy":
        full = crypt_hash("sha512", md5hex(pw), {"salt": req["salt"]})
        prefix = espo_prefix(req)
        assert full.startswith(prefix)
        return {"stored": full[len(prefix):], "salt": None}
    if kind.startswith("pbkdf2_"):
        h = passlib_pbkdf2(kind).using(rounds=int(req["rounds"]), salt_size=int(req.get("salt_bytes", 16)))
        return {"stored": h.hash(pw), "salt": None}
    if kind.startswith("django_pbkdf2_"):
        return {"stored": django_pbkdf2(kind).using(rounds=int(req["rounds"])).hash(pw), "salt": None}
    if kind == "jeecg":
        salt = "".join(secrets.choice(JEECG_ALPHABET) for _ in range(8))
        return {"stored": jeecg_encrypt(pw, login, salt, int(req.get("iterations", 1000))), "salt": salt}
    if kind == "kingdee_fsid":
        return {"stored": kingdee_fsid(pw, bool(req.get("prefix", True))), "salt": None}
    if kind in ("wukong11", "wukong_php", "ruoyi"):
        salt = digest_new_salt(kind)
        return {"stored": digest_compute(kind, pw, login, salt), "salt": salt}
    raise KeyError(kind)


def odoo_context():
    # odoo/addons/base/models/res_users.py _crypt_context() (17+, MIN_ROUNDS = 600_000).
    # Odoo's own context also lists "plaintext" (to upgrade old databases at the next
    # login); the oracle leaves it out, so that a value written in clear is rejected
    # instead of passing for the right password.
    from passlib.context import CryptContext

    return CryptContext(["pbkdf2_sha512"], deprecated=["auto"], pbkdf2_sha512__rounds=600000)


def do_verify(kind: str, req: dict) -> bool:
    if kind == "odoo_needs_update":
        return odoo_context().needs_update(req["stored"])
    pw = req["password"]
    login = req.get("login", "")
    stored = req["stored"]
    if kind == "bcrypt":
        return bcrypt_verify(pw, stored)
    if kind == "odoo":
        # res_users._check_credentials: verify_and_update(password, hashed).
        ctx = odoo_context()
        if ctx.identify(stored) is None:
            return False  # not a pbkdf2-sha512 hash: clear text among others
        ok, _replacement = ctx.verify_and_update(pw, stored)
        return ok
    if kind == "suitecrm":
        return bcrypt_verify(md5hex(pw), stored)
    if kind == "argon2":
        return argon2_verify(pw, stored)
    if kind in ("md5_crypt", "sha256_crypt", "sha512_crypt"):
        return crypt_verify(kind.split("_")[0], pw, stored)
    if kind == "sugarcrm":
        return crypt_verify("md5", md5hex(pw), stored)
    if kind == "espo_legacy":
        return crypt_verify("sha512", md5hex(pw), espo_prefix(req) + stored)
    if kind.startswith("pbkdf2_"):
        return passlib_pbkdf2(kind).verify(pw, stored)
    if kind.startswith("django_pbkdf2_"):
        return django_pbkdf2(kind).verify(pw, stored)
    if kind == "jeecg":
        try:
            computed = jeecg_encrypt(pw, login, req["salt"], int(req.get("iterations", 1000)))
        except ValueError:
            return False
        return hmac.compare_digest(computed, stored)
    if kind == "kingdee_fsid":
        try:
            computed = kingdee_fsid(pw, bool(req.get("prefix", True)))
        except ValueError:
            return False
        # Trailing spaces are zero padding; SQL Server's = ignores them.
        return hmac.compare_digest(computed.rstrip(" "), stored.rstrip(" "))
    if kind in ("wukong11", "wukong_php", "ruoyi"):
        return hmac.compare_digest(digest_compute(kind, pw, login, req["salt"]), stored)
    raise KeyError(kind)


def main(argv: list) -> int:
    if len(argv) != 3 or argv[1] not in ("verify", "hash"):
        print("usage: oracle.py verify|hash KIND  (JSON request on stdin)", file=sys.stderr)
        return 2
    cmd, kind = argv[1], argv[2]
    try:
        req = json.load(sys.stdin)
        if cmd == "hash":
            out = do_hash(kind, req)
        else:
            out = {"ok": bool(do_verify(kind, req))}
    except KeyError as e:
        print(f"oracle: unknown kind or missing field {e}", file=sys.stderr)
        return 2
    except Exception as e:  # never echo the request: it holds the password
        print(f"oracle: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
