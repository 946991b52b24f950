"""The audit trail: who did what to which record, when, from where; append-only and hash-chained."""
