"""The eleven biomedical datasets of the BiomedCoOp benchmark, with BiomedCoOp's splits."""
