"""Writes password-hash test vectors as JSON Lines on stdout.

Run by scripts/make-hash-vectors.sh inside a venv that pins one werkzeug version
(plus bcrypt and argon2-cffi for the PHC vectors). Every vector is checked by the
library that made it before it is written, so the file holds only hashes that the
original software accepts. Passwords are test data, never real ones.
"""
import base64
import hashlib
import hmac
import json
import sys

import werkzeug
from werkzeug.security import check_password_hash, generate_password_hash

VERSION = werkzeug.__version__ if hasattr(werkzeug, "__version__") else None
if VERSION is None:
    from importlib.metadata import version

    VERSION = version("werkzeug")
MAJOR = int(VERSION.split(".")[0])
SOURCE = f"werkzeug {VERSION}"
PASSWORDS = ["correct horse battery staple", "pässwörd ☃ 🔑", "x"]


def emit(kind, hash_, password, source=SOURCE, wrong="not the password"):
    print(json.dumps({"kind": kind, "source": source, "password": password,
                      "wrong": wrong, "hash": hash_}, ensure_ascii=False))


def werkzeug_vectors():
    methods = ["pbkdf2:sha256:1000", "pbkdf2:sha1:2000", "pbkdf2:sha512:3000"]
    if MAJOR >= 3:
        methods += ["scrypt:1024:8:1", "scrypt:2048:4:2"]
    for m in methods:
        for salt_length in (8, 16, 22):
            for pw in PASSWORDS[:2]:
                h = generate_password_hash(pw, method=m, salt_length=salt_length)
                assert check_password_hash(h, pw)
                emit("werkzeug", h, pw)
    # The version's own default, exactly as its generate_password_hash() writes it.
    h = generate_password_hash(PASSWORDS[0])
    assert check_password_hash(h, PASSWORDS[0])
    emit("werkzeug-default", h, PASSWORDS[0])
    # One-argument form: the iteration count is the writing version's default.
    salt = "AbCdEfGhIjKlMnOp"
    full = generate_password_hash(PASSWORDS[1], method="pbkdf2:sha256", salt_length=16)
    digest = full.split("$")[2]
    _, fsalt, _ = full.split("$")
    one_arg = f"pbkdf2:sha256${fsalt}${digest}"
    assert check_password_hash(one_arg, PASSWORDS[1])
    emit("werkzeug-one-arg", one_arg, PASSWORDS[1])
    if MAJOR >= 3:
        # Bare methods: werkzeug >= 2.3 parses them with its defaults (never writes them).
        from werkzeug.security import _hash_internal

        for method in ("pbkdf2", "scrypt"):
            hexd, _ = _hash_internal(method, salt, PASSWORDS[0])
            bare = f"{method}${salt}${hexd}"
            assert check_password_hash(bare, PASSWORDS[0])
            emit("werkzeug-bare", bare, PASSWORDS[0])
    else:
        # Legacy salted HMAC and plain text (werkzeug < 2.3 only); refused by default.
        for m in ("sha1", "sha256", "plain"):
            h = generate_password_hash(PASSWORDS[0], method=m, salt_length=8)
            assert check_password_hash(h, PASSWORDS[0])
            emit("werkzeug-weak", h, PASSWORDS[0])
        # Unsalted digest form (salt left empty): werkzeug < 2.3 hashes the password alone.
        h = "sha1$$" + hashlib.sha1(PASSWORDS[0].encode()).hexdigest()
        assert check_password_hash(h, PASSWORDS[0])
        emit("werkzeug-weak", h, PASSWORDS[0])


def b64(raw):
    return base64.b64encode(raw).decode().rstrip("=")


def phc_vectors():
    """PHC strings made with hashlib (pbkdf2, scrypt), bcrypt and argon2-cffi."""
    import bcrypt
    from argon2.low_level import Type, hash_secret

    src = "hashlib " + sys.version.split()[0]
    salt = b"sixteen byte slt"
    for pw in PASSWORDS[:2]:
        raw = hashlib.pbkdf2_hmac("sha256", pw.encode(), salt, 1000, 32)
        emit("phc", f"$pbkdf2-sha256$i=1000,l=32${b64(salt)}${b64(raw)}", pw, src)
        raw = hashlib.pbkdf2_hmac("sha512", pw.encode(), salt, 1000, 64)
        emit("phc", f"$pbkdf2-sha512$i=1000,l=64${b64(salt)}${b64(raw)}", pw, src)
        raw = hashlib.scrypt(pw.encode(), salt=salt, n=1024, r=8, p=1, dklen=32)
        emit("phc", f"$scrypt$ln=10,r=8,p=1${b64(salt)}${b64(raw)}", pw, src)
        h = bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=4)).decode()
        assert bcrypt.checkpw(pw.encode(), h.encode())
        emit("bcrypt", h, pw, "bcrypt " + bcrypt.__version__)
        for t in (Type.I, Type.ID):
            h = hash_secret(pw.encode(), salt, time_cost=1, memory_cost=1024,
                            parallelism=1, hash_len=32, type=t).decode()
            emit("argon2", h, pw, "argon2-cffi")


if __name__ == "__main__":
    werkzeug_vectors()
    if len(sys.argv) > 1 and sys.argv[1] == "--phc":
        phc_vectors()
