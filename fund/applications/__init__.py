"""Aid requests (demandes d'aide), their workflow and the committee's votes."""
