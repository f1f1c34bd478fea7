"""taskq's internal library: settings, wire names, topology, storage and models shared by services."""
