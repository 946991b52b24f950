"""Users, roles, school memberships and bearer tokens."""
