"""Budget envelopes: money set aside per fiscal year, reserved by approvals, consumed by payments."""
