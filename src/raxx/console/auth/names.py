"""A console user's name: at most :data:`NAME_LENGTH` characters (``console_user.name``), one
line, not blank, and one person however it is spelt: ``bob``, ``Bob`` and ``bob`` in fullwidth letters are the
same name (``raxx.common.actors.actor_key``, the gate's rule for who acts), so a second
account cannot pass for the first in the audit trail. Light: ``raxx --help`` imports it."""

from __future__ import annotations

from raxx.common.cliparams import ActorName

NAME_LENGTH = 64
#: ``raxx console user add NAME``: recorded trimmed (``clean_actor``).
USER_NAME = ActorName(max_length=NAME_LENGTH)
