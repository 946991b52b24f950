"""The books: balanced journal entries for grants, transfers, returns and cancellations (ANC 2018-06 accounts)."""
