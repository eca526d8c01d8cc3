"""Trained models measured against their lessons' bars, and the leaderboard of every shipped model.

One module per trained model (:mod:`.vae`, :mod:`.t2v`, :mod:`.animatediff`, :mod:`.svd`, :mod:`.orbit`,
:mod:`.swnet`) and :mod:`.leaderboard`. The measures themselves live in :mod:`labkit.metrics`.
"""
