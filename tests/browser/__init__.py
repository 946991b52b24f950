"""Browser tests: the real service driven by Chromium through Playwright, with axe-core's accessibility checks."""
