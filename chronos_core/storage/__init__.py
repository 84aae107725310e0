"""Persistence: MongoDB repositories, the GridFS artifact store and the embedded database."""
