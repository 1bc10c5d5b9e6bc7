"""The ledger: releases, approvals, health samples, incidents, freezes, locks, decisions."""
