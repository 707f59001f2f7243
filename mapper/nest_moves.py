"""The coordinate descent's neighbourhoods of one row (:class:`NestMoves`, a part of
:class:`mapper.nest_space.NestSpace`): one prime factor moved, every re-split of one
dimension, trades of a fanout axis or of two temporal levels between two dimensions,
every order of one level's busy loops. Each returns the neighbours as
:class:`~mapper.nest_genomes.NestGenomes`, structurally legal and covering the bounds.
They are the compiled neighbourhoods the descent itself runs
(:func:`mapper.nest_descent_jit._hood`: one owner of the rules), tested equal to the
plain loops they replaced (tests/mapper/test_nest_jit.py,
tests/mapper/test_nest_descent_jit.py).
"""

from __future__ import annotations

from mapper.nest_descent_jit import (NEIGHBOURS, REORDERS, RESPLITS, SPATIAL_TRADES,
                                     TEMPORAL_TRADES, _hood)
from mapper.nest_genomes import NestGenomes


class NestMoves:
    """The neighbourhoods; uses the space's ``_hood_consts``."""

    def _neighbourhood(self, kind: int, arg: int, g: "NestGenomes", i: int) -> "NestGenomes":
        return NestGenomes(*_hood(kind, arg, g.temporal[i], g.order[i], g.axes[i],
                                  *self._hood_consts))

    def neighbours(self, g: "NestGenomes", i: int) -> "NestGenomes":
        """Every mapping one step from row ``i``: one prime factor of one dimension moved
        from one of its temporal levels or fanout axes to another (the product, hence the
        bounds covered, unchanged; a fanout axis never past its size), or two loops of one
        level swapped where either has a factor > 1 there."""
        return self._neighbourhood(NEIGHBOURS, 0, g, i)

    def resplits(self, g: "NestGenomes", i: int, d: int) -> "NestGenomes":
        """Every split of dimension ``d`` of row ``i`` (its spatial factors within the
        room the other dimensions leave on each fanout axis, then every exact
        factorization of the remaining steps over its temporal levels), the rest of the
        row unchanged; at most :data:`~mapper.nest_descent_jit.RESPLIT_CAP` of them,
        evenly spaced over the whole list, when there are more (deep hierarchies: a bound
        over 7 levels)."""
        return self._neighbourhood(RESPLITS, d, g, i)

    def spatial_trades(self, g: "NestGenomes", i: int) -> "NestGenomes":
        """Row ``i`` with one fanout axis trading between two dimensions: dimension ``d``
        gives up a prime ``p`` of its factor there (``p`` joins one of its temporal
        levels) and dimension ``e`` takes a divisor ``q`` of its factor at one of its
        temporal levels onto the axis (within the axis size). Products per dimension are
        unchanged, so the bounds stay covered; a move no single re-split can make when
        the axis is full (e.g. R 3 x C 4 -> C 16)."""
        return self._neighbourhood(SPATIAL_TRADES, 0, g, i)

    def temporal_trades(self, g: "NestGenomes", i: int) -> "NestGenomes":
        """Row ``i`` with two temporal levels trading: a prime ``p`` of dimension ``d``'s
        factor moves from level ``x`` to level ``y`` and a divisor ``q`` of dimension
        ``e``'s factor moves from ``y`` to ``x`` (a tile that grows in one dimension and
        shrinks in another, which a capacity may allow only together)."""
        return self._neighbourhood(TEMPORAL_TRADES, 0, g, i)

    def reorders(self, g: "NestGenomes", i: int, lv: int) -> "NestGenomes":
        """Row ``i`` with level ``lv``'s loops of factor > 1 permuted among their
        positions, every permutation in ``itertools.permutations`` order (the first
        :data:`~mapper.nest_descent_jit.REORDER_CAP` when there are more)."""
        return self._neighbourhood(REORDERS, lv, g, i)


__all__ = ["NestMoves"]
