"""The mapping space: every split is legal, genomes decode to legal mappings."""

from __future__ import annotations

from math import prod

import numpy as np
import pytest

from dataflows.dataflow import MAP_DIMS
from dataflows.layer import conv, gemm
from mapper.space import MappingSpace, SpaceError
from sim import evaluate_batch, load_accelerator
from sim.analytic import MappingBatch


@pytest.mark.parametrize("imperfect", [False, True])
@pytest.mark.parametrize("spec, layer", [
    ("edge_8x8_ws", gemm("g", 24, 20, 36)),
    ("os_32x32", conv("c", 6, 10, 9, 3, stride=2)),
    ("eyeriss_12x14_rs", conv("r", 5, 7, 9, 3, padding=1)),
])
def test_every_decoded_genome_passes_mapping_check(spec: str, layer, imperfect: bool) -> None:  # noqa: ANN001
    accel = load_accelerator(spec)
    space = MappingSpace(layer, accel, imperfect)
    for d in MAP_DIMS:
        s = space.splits[d]
        assert (s.prod(axis=1) >= space.bounds[d]).all()
        if not imperfect:
            assert (s.prod(axis=1) == space.bounds[d]).all()
    genomes = space.random_genomes(np.random.default_rng(0), 300)
    batch, valid = space.decode(genomes)
    assert valid.any()
    for i in np.flatnonzero(valid)[:60]:
        m = space.to_mapping(genomes[i])
        m.check(layer, space.dataflow, accel.rows, accel.cols, space.bounds)


def test_perfect_splits_are_all_factorizations() -> None:
    space = MappingSpace(gemm("g", 12, 1, 1), load_accelerator("edge_8x8_ws"))
    # P (stream, not spatial in ws) = 12 = pe * glb * dram: sum over divisors d of
    # 12 of tau(12 / d) = 18 ordered triples
    assert len(space.splits["P"]) == 18
    assert space.split_counts.tolist() == [1, 1, 1, 1, 18, 1, 1, 1]


def test_imperfect_adds_padded_spatial_factors() -> None:
    accel = load_accelerator("edge_8x8_ws")
    layer = gemm("g", 4, 4, 23)                      # C = 23 is prime
    perfect = MappingSpace(layer, accel).splits["C"]
    padded = MappingSpace(layer, accel, imperfect=True).splits["C"]
    assert set(perfect[:, 0]) == {1}                 # 23 only unrolls as 1 row
    assert set(padded[:, 0]) == set(range(1, 9))     # 1..8 rows, last fold partial


def test_exhaustive_enumeration_counts_distinct_orders() -> None:
    space = MappingSpace(gemm("g", 4, 4, 4), load_accelerator("edge_8x8_ws"))
    genomes = space.enumerate_genomes(10**6)
    batch, valid = space.decode(genomes)
    assert valid.all()
    keys = {(tuple(batch.rows[i]), tuple(batch.cols[i]), tuple(map(tuple, batch.temporal[i])),
             tuple(d for d in batch.order[i, 1] if batch.temporal[i, 1, d] > 1),
             tuple(d for d in batch.order[i, 2] if batch.temporal[i, 2, d] > 1))
            for i in range(len(genomes))}
    assert len(keys) == len(genomes)                 # no duplicate points


def test_enumeration_limit_is_a_clear_error() -> None:
    space = MappingSpace(conv("c", 64, 64, 28, 3), load_accelerator("edge_8x8_ws"))
    with pytest.raises(SpaceError, match=r"exceed the exhaustive limit 1,000; use a "
                                         r"heuristic strategy"):
        space.enumerate_genomes(1000)


def test_decode_matches_mapping_batch_from_mappings() -> None:
    accel = load_accelerator("edge_8x8_ws")
    space = MappingSpace(conv("c", 8, 16, 10, 3, padding=1), accel)
    genomes = space.random_genomes(np.random.default_rng(1), 50)
    batch, valid = space.decode(genomes)
    ref = MappingBatch.from_mappings([space.to_mapping(g) for g in genomes])
    a = evaluate_batch(space.layer, accel, batch)
    b = evaluate_batch(space.layer, accel, ref)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert prod(space.split_counts.tolist()) > 1
