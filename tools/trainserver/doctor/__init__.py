"""ts-doctor: the system test of a live server (the manual's 11-run-tests.sh)."""
