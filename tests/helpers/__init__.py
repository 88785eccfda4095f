"""Shared test helpers: real processes, real files, real git (see each module)."""
