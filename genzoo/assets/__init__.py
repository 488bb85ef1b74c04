"""Data files bundled with genzoo (a package only so that installers ship them).

* ``digits_classifier.safetensors`` / ``.json``: the digits classifier behind
  :mod:`genzoo.metrics` (accuracy, digit-FD), built by
  ``scripts/train_digits_classifier.py``; the JSON records its test accuracy,
  recipe, exact command and sha256.
"""
