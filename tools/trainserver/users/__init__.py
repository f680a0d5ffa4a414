"""ts-users: the accounts, subvolumes and SSH keys of the people of [users]."""
