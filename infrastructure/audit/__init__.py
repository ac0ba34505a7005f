"""Tamper evidence: hash chains over every stored event, signed checkpoints, verification.

- :mod:`~infrastructure.audit.chain`: what is hashed and how (pure functions).
- :mod:`~infrastructure.audit.writer`: writes the hashes in the events' own transaction
  (used by :class:`~infrastructure.eventstore.LedgerRecorder`).
- :mod:`~infrastructure.audit.signing`: the Ed25519 key and the signed checkpoint.
- :mod:`~infrastructure.audit.checkpoints`: makes, stores and publishes checkpoints.
- :mod:`~infrastructure.audit.verify`: ``ledgerline audit verify``; its findings in
  :mod:`~infrastructure.audit.findings`.

Why it is built this way: docs/decisions/0013-hash-chains-in-a-side-table.md; how to use
it: docs/audit.md.
"""
