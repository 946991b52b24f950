"""Finding a case (one search box, ``GET /api/v1/search``) and the duplicate warnings on a request."""
