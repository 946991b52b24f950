"""Decision letters: the French letter that tells the family (the guardian of a minor, the adult student) the
committee's decision, made by the worker once the decision committed, stored encrypted with its SHA-256, versioned."""
