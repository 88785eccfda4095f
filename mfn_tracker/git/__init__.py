"""Git hooks: install them into repositories and record what git did (see docs/git-hooks.md)."""
