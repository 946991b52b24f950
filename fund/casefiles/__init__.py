"""The auditor's case file: one request, or a random sample of a period's requests, as a ZIP that verifies offline."""
