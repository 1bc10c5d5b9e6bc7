"""The release gate: policy, ledger, checks, flows, platform adapters, monitor."""
