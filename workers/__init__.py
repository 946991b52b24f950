"""The arq worker: outbox delivery and periodic sweeps. Jobs are thin; the services do the work."""
