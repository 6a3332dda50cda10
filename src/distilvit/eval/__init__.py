"""Caption evaluation: COCO metrics (`metrics`), PTB tokenisation for them (`tokenize`)."""

from distilvit.eval.metrics import MetricError, caption_metrics, gendered_rate

__all__ = ["MetricError", "caption_metrics", "gendered_rate"]
