"""The web chat channel (issue 14): the same dispatcher, handlers and texts in a browser.

* :mod:`bot.web.ids` — the id ranges of web users and updates, and the guard keeping them apart
  from Telegram's.
* :mod:`bot.web.store` — history (``web_messages``), files and the live feed to browsers.
* :mod:`bot.web.session` — a Bot API session wrapper: calls for web chats become history rows
  and browser events; every other call goes on to Telegram.
* :mod:`bot.web.intake` — browser input as aiogram updates fed to the dispatcher.
* :mod:`bot.web.render` — Telegram's HTML subset to safe HTML, keyboards to buttons.
* :mod:`bot.web.server` — the aiohttp routes: the page, the widget, WebSocket, long polling,
  uploads and downloads.
"""
