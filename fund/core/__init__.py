"""The service's shared kernel: settings, database and unit of work, errors and problems, money, security,
the queue, pagination, logging, health and metrics, the embedded servers and the demo data. The domains use it;
it knows no domain but through ``models`` (every table, for the mappers) and ``demo``."""
