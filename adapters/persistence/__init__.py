"""Persistence adapters: Tortoise ORM (SQLite, PostgreSQL) and in-memory."""
