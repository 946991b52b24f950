"""The web pages: server-rendered (Jinja), in French, signed in with a session cookie, protected by CSRF."""
