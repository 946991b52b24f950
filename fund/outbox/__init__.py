"""Transactional outbox: events written with the state change, delivered to the worker after commit."""
