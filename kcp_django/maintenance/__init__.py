"""What operators run from cron, each module behind the command of the same name:

- :mod:`.reconcile` (``kcp_reconcile``): move verifications left PENDING or UNKNOWN on;
- :mod:`.purge` (``kcp_purge``): destroy personal data after the retention period (파기);
- :mod:`.rotate_keys` (``kcp_rotate_keys``): re-encrypt every EncryptedTextField under the newest key;
- :mod:`.reindex` (``kcp_reindex``): rebuild the blind indexes after ``KCP_INDEX_KEY`` changed;
- :mod:`.batches`: the one batch loop (a transaction per batch, locked rows skipped) they share.
"""
