"""memory-server: local, encrypted memory and state for AI agents, served over MCP."""

__version__ = "0.1.0"
