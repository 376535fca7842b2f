"""Handoff service: the queue of conversations handed to human agents, their transcripts and
live messages, the agent console, and the relay of agent messages through Rasa's HTTP API."""
