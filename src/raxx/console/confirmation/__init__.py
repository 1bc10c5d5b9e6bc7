"""Typed confirmations for actions in protected environments (see ``service``)."""
