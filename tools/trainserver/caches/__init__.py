"""ts-caches: the shared download caches under [paths] storage/cache."""
