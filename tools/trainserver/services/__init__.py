"""ts-docker: Docker set up for the storage, and the services stack with each person's workspace."""
