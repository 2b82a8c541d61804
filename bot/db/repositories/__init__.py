"""Queries shared by handlers and services, one module per area.

Handlers hold no SQL: they call a service or one of these functions, which take the update's
``AsyncSession`` and return models (or plain values). A repository imports models only: never a
service, a handler or aiogram.
"""
