"""Developer tools: the local Telegram Bot API test server used by tests and benchmarks."""

from bot.devtools.fake_botapi import BotAPIError, Call, FakeBotAPI, UploadedFile

__all__ = ["BotAPIError", "Call", "FakeBotAPI", "UploadedFile"]
