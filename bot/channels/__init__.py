"""Messaging channels of the Rasa server besides REST and socket.io: the WeChat Official Account
connector (wechat.py) and the builder of the effective credentials file (credentials.py)."""
