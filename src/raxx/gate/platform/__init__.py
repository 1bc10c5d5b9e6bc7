"""Platform adapters: how a release is made to run (local processes; Heroku later)."""
