"""Dataset and caption quality: bias lexicons (`lexicons`), the quality report (`report`),
de-biasing (`debias`, with `debias_rules` and the `llm` backend) and prompts for rare objects
(`prompts`). See docs/dataset_quality.md and docs/fighting_bias.md."""
