"""The clause-indexed knowledge base of Regulation No. 066 and its search.

Pure Python: nothing here imports aiogram, so the CLI, the benchmarks and the bot share it.
"""
