"""`python -m bench`: taskq's benchmark. It starts its own broker vhost, database and service
processes, measures the broker floor, the pipeline end to end, latency under open-loop load,
the seed settings and scale-out, listings at size and memory, and reports each target."""
