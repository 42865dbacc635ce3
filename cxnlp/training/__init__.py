"""Training and evaluation of the classifier heads."""
