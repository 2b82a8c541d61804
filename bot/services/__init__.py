"""Services and repositories: the logic handlers call; handlers stay thin."""
