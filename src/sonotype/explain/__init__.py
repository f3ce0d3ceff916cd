"""Explaining models: deconvolution, auralisation (Choi et al. 2015-16) and feature analysis."""
from .analyse import analyse, analyse_checkpoint, synthesise_stimuli
from .auralise import (auralise, auralise_file, complex_stft, inverse_stft, mfcc_to_audio, mfcc_to_magnitude,
                       parse_features, parse_layers)
from .deconv import DeconvError, deconvolve, layer_output, swishnet_saliency, top_features
from .html import write_index

__all__ = ["DeconvError", "analyse", "analyse_checkpoint", "auralise", "auralise_file", "complex_stft",
           "deconvolve", "inverse_stft", "layer_output", "mfcc_to_audio", "mfcc_to_magnitude", "parse_features", "parse_layers",
           "swishnet_saliency", "synthesise_stimuli", "top_features", "write_index"]
