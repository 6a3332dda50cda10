"""Dataset and caption quality: the quality report (`report`), de-biasing (`debias`, with
`debias_rules` and the `llm` backend) and prompts for rare objects (`prompts`). The bias
lexicons they count with live in `distilvit.words`. See docs/dataset_quality.md and
docs/fighting_bias.md."""
