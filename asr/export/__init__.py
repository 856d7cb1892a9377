"""Exporting trained models: ``model_dir`` writes the self-contained model dir that decoding loads."""

from asr.export.model_dir import export_model

__all__ = ["export_model"]
