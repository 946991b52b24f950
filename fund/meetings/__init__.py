"""Committee meetings (séances du comité): an agenda, votes taken through it, and the minutes (procès-verbal)."""
