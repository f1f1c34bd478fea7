"""Developer scripts run as files (`python3 scripts/localstack.py`) and imported by the tests."""
