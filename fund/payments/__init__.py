"""Payment files: SEPA credit-transfer orders (pain.001, :mod:`fund.payments.sepa`) and bank statements
(camt.053 / camt.054, :mod:`fund.payments.camt`). Pure functions: no database, no web framework."""
