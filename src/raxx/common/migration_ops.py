"""What revisions of every Alembic tree share (raptor, console, ledger).

Revisions are history: a helper here is called by revisions that already ran, so its
effect on a database never changes. A revision that needs something else gets a new
helper (or writes it out), never an edit to one of these.
"""

from __future__ import annotations

from alembic import op

from raxx.common.alembic_env import runtime_role


def for_runtime_role(*statements: str) -> None:
    """Run ``statements`` with ``{role}`` replaced by the runtime role's quoted name.

    The runtime role is the one the app connects as (``raxx.common.provision`` gives it
    SELECT, INSERT, UPDATE and DELETE on the owner's tables by default); a revision narrows
    or widens that here. When the app connects as the owner (Heroku) there is no such
    role and nothing runs.
    """
    role = runtime_role()
    if role:
        for statement in statements:
            op.execute(statement.replace("{role}", f'"{role}"'))


def create_contract_view(name: str, query: str, *, comment: str, grant: str = "SELECT") -> None:
    """A view another deployable reads (``raxx.common.contracts``), with a comment naming its reader.

    The comment is quoted as is (no apostrophes). The runtime role gets exactly ``grant`` on
    the view, not what the owner's default privileges gave it.
    """
    op.execute(f"CREATE VIEW {name} AS {query}")
    op.execute(f"COMMENT ON VIEW {name} IS '{comment}'")
    for_runtime_role(f"REVOKE ALL ON {name} FROM {{role}}", f"GRANT {grant} ON {name} TO {{role}}")
