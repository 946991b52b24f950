"""Students of the schools; shown to the committee only pseudonymised."""
