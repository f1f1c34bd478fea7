"""`taskq`: the command line client of the taskq API."""
