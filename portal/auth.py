"""Who is signed in: per-person tokens, a signed session cookie, and CSRF tokens.

Contract:

* :func:`issue_tokens` makes one random token per student (32 bytes, URL-safe) and stores only its
  SHA-256; it returns the plain tokens once, for the CSV the instructor mails out. Issuing again for
  a student revokes their earlier tokens. :func:`revoke` revokes every token of one owner.
* :func:`owner_of` maps a presented token to its owner, or None (unknown, revoked, malformed);
  :func:`token_of` also gives the token's row id.
* The session cookie holds ``{"who": owner, "tid": token row id, "sid": random}`` signed with the
  course's portal secret (``.autograder/portal-secret``, 0600, made on first use, never in the
  repository); it is HTTP-only and SameSite=Strict. A forged or tampered cookie reads as "not
  signed in". A session lives only while the very token it was made from is not revoked
  (:func:`session_valid`): revoking signs the person out, and issuing them a new token later does
  not bring a copied old cookie back to life. "Sign out" ends the session on the server
  (:func:`end_session`): a copy of the cookie taken before stops working too.
* Every form carries ``csrf`` = HMAC(secret, session sid); a POST without the right value is
  refused before it does anything.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from portal.store import ADMIN, EndedSession, Token, _rowcount, utcnow

SESSION_COOKIE = "portal_session"
SESSION_MAX_AGE = 12 * 3600


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def course_secret(state_dir: Path) -> bytes:
    """The portal's signing key, made once per course with mode 0600."""
    path = Path(state_dir) / "portal-secret"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as out:
        key = secrets.token_hex(32).encode()
        out.write(key)
    return key


def issue_tokens(db: sessionmaker[Session], owners: list[str]) -> dict[str, str]:
    """owner -> new plain token; older tokens of the same owners are revoked."""
    out: dict[str, str] = {}
    with db.begin() as s:
        for owner in owners:
            s.execute(update(Token).where(Token.owner == owner, Token.revoked_at.is_(None))
                      .values(revoked_at=utcnow()))
            token = secrets.token_urlsafe(32)
            s.add(Token(owner=owner, sha256=digest(token), created_at=utcnow()))
            out[owner] = token
    return out


def revoke(db: sessionmaker[Session], owner: str) -> int:
    with db.begin() as s:
        return _rowcount(s.execute(update(Token).where(Token.owner == owner, Token.revoked_at.is_(None))
                                   .values(revoked_at=utcnow())))


def token_of(db: sessionmaker[Session], token: str) -> tuple[int, str] | None:
    """(token row id, owner) of a presented token that is valid now, else None."""
    token = (token or "").strip()
    if not (20 <= len(token) <= 200):
        return None
    with db() as s:
        row = s.scalars(select(Token).where(Token.sha256 == digest(token))).first()
        if row is None or row.revoked_at is not None:
            return None
        return row.id, row.owner


def owner_of(db: sessionmaker[Session], token: str) -> str | None:
    found = token_of(db, token)
    return found[1] if found else None


def session_valid(db: sessionmaker[Session], session: dict) -> bool:
    """A session outlives nothing: it holds while the token it was made from is not revoked and
    it was not signed out."""
    with db() as s:
        row = s.get(Token, session["tid"])
        if row is None or row.revoked_at is not None or row.owner != session["who"]:
            return False
        return s.get(EndedSession, session["sid"]) is None


def end_session(db: sessionmaker[Session], session: dict) -> None:
    """Sign out on the server; rows older than a cookie's lifetime are dropped (they match nothing)."""
    now = utcnow()
    with db.begin() as s:
        s.execute(delete(EndedSession).where(EndedSession.ended_at < now - dt.timedelta(seconds=SESSION_MAX_AGE)))
        if s.get(EndedSession, session["sid"]) is None:
            s.add(EndedSession(sid=session["sid"], ended_at=now))


class Sessions:
    """Signs and reads the session cookie; derives CSRF tokens from it."""

    def __init__(self, secret: bytes):
        self._secret = secret
        self._serializer = URLSafeTimedSerializer(secret, salt="portal-session")

    def make(self, owner: str, token_id: int) -> str:
        return self._serializer.dumps({"who": owner, "tid": token_id, "sid": secrets.token_hex(16)})

    def read(self, cookie: str | None) -> dict | None:
        if not cookie or len(cookie) > 4096:
            return None
        try:
            data = self._serializer.loads(cookie, max_age=SESSION_MAX_AGE)
        except BadSignature:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("who"), str) or not isinstance(data.get("sid"), str) \
                or type(data.get("tid")) is not int:
            return None
        return data

    def csrf(self, session: dict) -> str:
        return hmac.new(self._secret, b"csrf:" + session["sid"].encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, session: dict, presented: str | None) -> bool:
        return bool(presented) and hmac.compare_digest(self.csrf(session), presented or "")


def is_instructor(owner: str | None) -> bool:
    return owner == ADMIN
