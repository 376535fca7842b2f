"""Rasa stores of this project (tracker store), configured in endpoints.yml."""
