"""The review service: webhook intake, the job queue and workers, bot commands."""
