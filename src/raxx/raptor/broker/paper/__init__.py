"""Paper-broker controls over HTTP: quotes and pinned prices (tests, demos)."""
