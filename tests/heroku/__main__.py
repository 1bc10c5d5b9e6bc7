"""``python -m tests.heroku``: what ``scripts/heroku-local`` runs (see ``cli.py``)."""

from tests.heroku.cli import main

raise SystemExit(main())
