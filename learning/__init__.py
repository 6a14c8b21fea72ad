"""The learning loop: agents' corrections make the next model, safely.

- ``learning.feedback``  the corrections table (whole decisions: labels, queue, reply mode, actions,
  replies), filters and pages; ``learning.formats`` exports and imports it as JSON Lines, CSV, Label
  Studio and Argilla files. Text is only ever the engine's redacted text.
- ``learning.registry``  a folder of model versions with a live pointer, a history (rollback) and a
  shadow pointer; ``learning.compare`` scores a candidate against the live model per head on the real
  test split and on held-out corrections, and gates promotion on a regression margin.
- ``learning.shadow``    agreement of a shadow model with the live one on live traffic.
- ``learning.active``    which stored posts an agent should label next (uncertainty, rarity, diversity);
  ``learning.review`` applies it to the post store (``GET /v1/review-queue``, ``triage review next``).
- ``learning.audit``     model changes and automated actions in the post store's append-only audit log.

Warm-start retraining itself is ``training.warmstart`` (``triage train --from MODEL --feedback DB``).
A shell like ``serving``: it imports ``triage``, ``store`` and ``training``, never the other way round.
``learning.cli`` adds ``triage feedback | models | review | audit``. See docs/LEARNING.md.
"""
