"""PostgreSQL with every wait bounded (Django's backend, subclassed): see base.py."""
