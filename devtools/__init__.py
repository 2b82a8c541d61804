"""Tools for the test suite, the benchmarks and the README's scripts; not part of the installed
package (``pyproject.toml`` packages only ``bot``, ``handlers`` and ``knowledge``).

Imports point one way: ``devtools`` may import the application, the application never imports
``devtools``. Run from the repository root (pytest's rootdir, or ``sys.path`` set by a script):

* :mod:`devtools.fake_botapi` -- a local Telegram Bot API server
  (``python -m devtools.fake_botapi``);
* :mod:`devtools.rush` -- a deadline rush of simulated users against the real dispatcher;
* :mod:`devtools.webchat_server` -- the web chat on a local port, in a thread of its own;
* :mod:`devtools.browser` -- headless Chromium through Selenium;
* :mod:`devtools.pgdb` -- scratch PostgreSQL databases.
"""
