"""Command-line tools: results tables, figures, CoOp's result parser, synthetic datasets."""
