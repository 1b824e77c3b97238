"""The brokerage's sync server: a Litestar app built by :func:`server.app.create_app`."""
