"""medbridge's lmms-eval model backends (registered through the lmms_eval.models entry point)."""
