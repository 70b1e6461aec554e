"""LLM-written class attribute sets for BioMedVR: loading, checking and generation."""
