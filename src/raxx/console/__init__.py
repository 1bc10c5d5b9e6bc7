"""The one operator console: environment switcher, audit trail, sessions, roles."""
