"""Disbursements (versements): the payments of approved aid, and the accountant's exports."""
