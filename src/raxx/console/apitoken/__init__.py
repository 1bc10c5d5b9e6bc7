"""Personal API tokens: scripts act as their user, with the user's per-environment roles."""
