"""The settings page: static files shipped in the package, and how a browser logs in."""
