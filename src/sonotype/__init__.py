"""sonotype: speech / music / noise classification and segmentation."""
__version__ = "0.1.0"
