"""Area subcommands of ``studentbot``: each module has ``register(subparsers)``.

A subcommand sets ``func`` to ``async def handler(args, settings) -> int`` on its parser.
"""

# Modules listed here are imported by bot.cli; add yours in one line.
COMMAND_MODULES: list[str] = [
    "bot.commands.programme",
    "bot.commands.helpdesk",
    "bot.commands.knowledge",
    "bot.commands.applications",
    "bot.commands.calendar",
    "bot.commands.faq",  # issue 12
    "bot.commands.stats",  # issue 13
]
