"""Active semi-supervised learning rounds: the round folder, its review page and its decisions."""
