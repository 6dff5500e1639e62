"""The domain: facts, ranking, context assembly. Imports nothing from `mcp`."""
