"""How every shipped model was made: ``labkit train KIND``.

- :mod:`.loop`  ``fit``: seeding, AdamW with warm-up + cosine learning rate, clipping, EMA, checkpoints, resume
- :mod:`.cli`   the one trainer shell: common flags, ``RUN.json``, the summary, shipping
- one module per trained model: :mod:`.vae`, :mod:`.t2v` (t2v and i2v), :mod:`.animatediff` (image UNet and
  motion adapter), :mod:`.svd`, :mod:`.orbit`, :mod:`.swnet` (the FVD-SW feature network and its statistics)
"""
