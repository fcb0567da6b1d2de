"""Train: what a build learns from the example questions (the ranker, fitted and
cross-validated) and, on request, the fine-tuned model."""
