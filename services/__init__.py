"""taskq services: each is a separate process and imports only `shared`."""
