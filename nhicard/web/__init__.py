"""The web engine: a stateful HTTPS browser, browser-exact forms, ASP.NET postbacks, option
matching, redacted page saving and the site profiles that hold every site detail.

Import the submodules directly (``from nhicard.web.browser import Browser``); this package
module imports nothing so the CLI starts fast.
"""
