"""Website chat widget: the socket.io channel, the widget server (demo shop page, widget files,
conversation history, satisfaction ratings) and the widget itself under widget/static/."""
