"""Compliance: verify the hash chain, signed checkpoints, retention, export and review reports."""
