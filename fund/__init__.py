"""fund — case management for the solidarity fund of the Écoles de Production."""
