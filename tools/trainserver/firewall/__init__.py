"""ts-firewall: UFW and fail2ban for the server's edge, and Docker's published ports."""
