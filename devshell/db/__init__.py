"""Database servers and databases: connections, the embedded cluster, administration."""
