"""Re-export of the pruning helpers, now owned by :mod:`dataflows.compress.prune`.

Kept so existing importers (``sim.sparse``, ``sim.layer_config``) keep working; new
code imports from :mod:`dataflows.compress.prune`.
"""

from dataflows.compress.prune import (PruningError, prune_blocks, prune_magnitude, prune_nm,
                                      prune_rows)

__all__ = ["PruningError", "prune_blocks", "prune_magnitude", "prune_nm", "prune_rows"]
