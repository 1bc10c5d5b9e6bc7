"""A Heroku-like harness: runs the slug's apps the way Heroku runs them, on one machine.

Why it lives here and not in ``src/raxx``: it is a test instrument, not part of the
product. ``src/raxx`` is what the Heroku slug ships (``.slugignore`` drops ``tests/``,
and the wheel only packages ``src``), so nothing in this package can reach production.
``scripts/heroku-local`` is its command line; ``tests/heroku/test_scenario.py`` is the CI
scenario; both drive :class:`tests.heroku.platform.HerokuLocal`.

What it reproduces (each module says which Heroku behaviour it stands in for):

* ``slug``: the Python buildpack's build (production requirements into a fresh venv,
  from a copy of the tree minus ``.slugignore``) and the slug's size;
* ``manifest``: the ``Procfile`` and ``app.json`` (only declared config vars reach a dyno);
* ``addons``: Heroku Postgres, one database and one role per app, with the plan's
  ``CONNECTION LIMIT`` and credential rotation;
* ``dyno``: a dyno's environment and life (``PORT``, ``DYNO``, ``WEB_CONCURRENCY``,
  SIGTERM to the process group, SIGKILL 30 s later);
* ``router``: the TLS-terminating router (Debian's nginx; ``X-Forwarded-*``,
  ``X-Request-Id``, the 30 s H12 timeout answered as a 503);
* ``platform``: releases, the release phase, formations, restarts, one-off dynos;
* ``load`` and ``scenario``: the CI scenario's clients and checks.
"""
