"""Who acts: a person's name as the gate records it, and the one rule for when two names are one person.

A name is recorded as given, with its outer whitespace trimmed and inner runs of
whitespace made one space (``clean_actor``): ``" Bob "`` is recorded as ``Bob``. Wherever
the gate compares people (the deployer never approves their own release, an approver
counts once), it compares ``actor_key``: the name in Unicode NFKC, case-folded, NFKC
again, trimmed and collapsed the same way. So ``bob``, ``BOB``, ``" bob "`` and the
same name in fullwidth letters (U+FF42...) are one person; a name that is blank is no one, and is refused where it
enters (``raxx.common.cliparams.ACTOR``, and the variables ``GATE_ACTOR``,
``GITHUB_ACTOR``, ``USER``). So is a name holding an invisible formatting character
(:func:`name_problem`: a zero width space, a soft hyphen, a direction override): ``alice``
followed by U+200B looks like ``alice`` everywhere a person reads it, and was another person
to the approval rule. The key drops such characters as well, for names recorded before.
Light on purpose: ``raxx --help`` imports the option types.
"""

from __future__ import annotations

import unicodedata

#: The most characters a name may have: the width of every who-acts column of the ledger.
ACTOR_LENGTH = 200


def clean_actor(name: str) -> str:
    """``name`` as it is recorded and shown: trimmed, inner whitespace one space, case kept."""
    return " ".join(name.split())


def actor_key(name: str) -> str:
    """What ``name`` is compared by: two names with the same key are the same person."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
    return " ".join("".join(c for c in folded if not _invisible(c)).split())


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a person (a message for its field or option), or None: it holds a
    formatting character (Unicode category Cf) a reader cannot see, so it would pass for another."""
    if hidden := next((c for c in name if _invisible(c)), None):
        return f"may not contain invisible formatting characters (it holds U+{ord(hidden):04X} {_char_name(hidden)})"
    return None


def _invisible(char: str) -> bool:
    return unicodedata.category(char) == "Cf"


def _char_name(char: str) -> str:
    return unicodedata.name(char, "a format character").lower()


def same_actor(a: str | None, b: str | None) -> bool:
    """Whether ``a`` and ``b`` name the same person (an unknown one is nobody's match)."""
    return a is not None and b is not None and actor_key(a) == actor_key(b)
