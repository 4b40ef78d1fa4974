"""Stable pseudonyms for the public leaderboard (pure).

A keyed hash of the student id picks an adjective and an animal, so the same
student always has the same name in one course, and a student cannot work out
another's name from their id without the course's secret (its split seed).
"""
from __future__ import annotations

import hashlib
import hmac

ADJECTIVES = ("Amber", "Bold", "Brave", "Bright", "Calm", "Clever", "Cosmic", "Crimson", "Curious", "Daring",
              "Eager", "Electric", "Fierce", "Gentle", "Golden", "Happy", "Hidden", "Jade", "Keen", "Lively",
              "Lucky", "Mighty", "Misty", "Noble", "Quick", "Quiet", "Rapid", "Silent", "Silver", "Swift",
              "Violet", "Wise")
ANIMALS = ("Badger", "Bear", "Beaver", "Bison", "Crane", "Dolphin", "Eagle", "Falcon", "Ferret", "Fox",
           "Gecko", "Heron", "Ibis", "Jaguar", "Koala", "Lemur", "Lynx", "Marten", "Moose", "Narwhal",
           "Otter", "Owl", "Panda", "Puffin", "Raven", "Seal", "Sparrow", "Tiger", "Turtle", "Walrus",
           "Wolf", "Yak")


def pseudonym(student_id: str, secret: str, digits: int = 3) -> str:
    digest = hmac.new(secret.encode(), student_id.encode(), hashlib.sha256).digest()
    return (f"{ADJECTIVES[digest[0] % len(ADJECTIVES)]} {ANIMALS[digest[1] % len(ANIMALS)]} "
            f"{int.from_bytes(digest[2:6], 'big') % 10 ** digits:0{digits}d}")


def pseudonyms(student_ids, secret: str) -> dict[str, str]:
    """One distinct pseudonym per student id.

    Only names that collide get more digits, so a student joining later never
    renames anyone else (except, rarely, the one they collide with).
    """
    names = {s: pseudonym(s, secret) for s in sorted(set(student_ids))}
    digits = 3
    while len(set(names.values())) < len(names):
        digits += 1
        seen: dict[str, list[str]] = {}
        for student, name in names.items():
            seen.setdefault(name, []).append(student)
        for group in seen.values():
            if len(group) > 1:
                for student in group:
                    names[student] = pseudonym(student, secret, digits)
    return names
