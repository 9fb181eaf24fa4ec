"""Training dynamics: the training loop, the Recorder, run directories and diagnosis."""
