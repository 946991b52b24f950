"""The family's page: a signed link, without an account, to follow one request and add a missing document."""
