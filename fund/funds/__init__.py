"""Funds: the money pot, its fiscal year and its approval policy."""
