"""Apache Kafka for the test suite (apache.py) and the choice of broker (brokers.py)."""
