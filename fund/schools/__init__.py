"""Schools (Écoles de Production) and the French UAI identifier."""
