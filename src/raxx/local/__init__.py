"""The local topology (``raxx up``): every deployable on one machine.

``up`` prepares databases and secrets and starts the services; ``supervisor`` runs their
processes (logs, readiness, restarts, deploys requested by the gate's local platform).
"""
