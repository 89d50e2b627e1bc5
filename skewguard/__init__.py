"""skewguard's base: configuration, the Elasticsearch client, logging, the JVM stack (jars), the
artifact folders and the Spark-free drift statistics. It imports no job, serving or operator code."""

__all__: list[str] = []
