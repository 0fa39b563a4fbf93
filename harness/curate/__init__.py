"""Training data made from benchmark questions: MCQ-doc JSONL writing, the modality-balanced
subset of a VQA train split (paper section 4), and pass-rate selection of RL questions."""
