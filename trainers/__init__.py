"""BioMedVR and its baselines for the Dassl/CoOp toolkit."""
