"""The console's audit trail: append-only, hash-chained, fail-closed, verifiable.

Entry points: :class:`raxx.console.audit.service.AuditTrail` (what console routes
call), :func:`raxx.console.audit.reconciler.reconcile`, :mod:`.verify`,
:mod:`.export`, :mod:`.checkpoint`, and the ``raxx audit`` commands.
"""
