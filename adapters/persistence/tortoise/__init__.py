"""Tortoise ORM persistence: models, mappers and the stores behind the ports."""
