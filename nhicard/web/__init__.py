"""The web engine: a stateful HTTPS browser, browser-exact forms, ASP.NET postbacks, option
matching, redacted page saving and the site profiles that hold every site detail.

Import the submodules directly (``from nhicard.web.browser import Browser``); this package
module imports nothing so the CLI starts fast — it only arranges for soupsieve to be imported
when first used rather than with bs4 (:mod:`nhicard.soupsieve_on_demand`).
"""

from nhicard import soupsieve_on_demand  # noqa: F401 - installs the stand-in
