"""Notifications: what each person is told, in the API and by mail."""
