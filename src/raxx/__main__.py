"""``python -m raxx`` and the ``raxx`` console script (``pyproject.toml`` points here).

Deliberately light: ``raxx audit verify`` starts worker processes (spawn), and each
worker re-runs the parent's main script, which for the console script imports this
module. Importing the whole CLI at the top would cost every worker about a second.
"""


def main() -> None:
    from raxx.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
