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


def test_genome_carries_the_loop_orders_it_decodes_to() -> None:
    # gemm M=24 N=20 K=36 on edge_8x8_ws: a genome is split indices + the GLB and DRAM
    # orders themselves; the PE order stays G..S
    space = MappingSpace(gemm("g", 24, 20, 36), load_accelerator("edge_8x8_ws"))
    g = np.zeros((1, 24), dtype=np.int64)
    g[0, 8:16] = [7, 6, 5, 4, 3, 2, 1, 0]
    g[0, 16:] = [2, 3, 4, 0, 1, 5, 6, 7]
    batch, valid = space.decode(g)
    assert batch.order[0].tolist() == [list(range(8)), [7, 6, 5, 4, 3, 2, 1, 0],
                                       [2, 3, 4, 0, 1, 5, 6, 7]]
    assert valid.tolist() == [True]
    # split 0 of every dimension: the first (rows, cols, pe, glb, dram) of each table
    assert batch.rows[0].tolist() == [int(space.splits[d][0, 0]) for d in MAP_DIMS]
    assert batch.temporal[0, 2].tolist() == [int(space.splits[d][0, 4]) for d in MAP_DIMS]
    m = space.to_mapping(g[0])
    assert m.order[1] == ("S", "R", "Q", "P", "C", "K", "N", "G")
    assert m.order[2] == ("K", "C", "P", "G", "N", "Q", "R", "S")


def test_random_genomes_are_permutations_and_in_range() -> None:
    space = MappingSpace(conv("c", 8, 16, 10, 3, padding=1), load_accelerator("edge_8x8_ws"))
    g = space.random_genomes(np.random.default_rng(4), 2000)
    assert g.dtype == np.int64 and g.shape == (2000, 24)
    assert ((g[:, :8] >= 0) & (g[:, :8] < space.split_counts)).all()
    assert (g[:, :8][:, space.split_counts == 1] == 0).all()
    for lo in (8, 16):
        assert (np.sort(g[:, lo:lo + 8], axis=1) == np.arange(8)).all()
    assert len({tuple(r) for r in g[:, 8:16]}) > 1500          # 8! orders, not a few


def test_rows_that_overflow_the_array_are_invalid() -> None:
    # rs on eyeriss (12 x 14) unrolls R and C over rows: C = 5 and R = 3 each fit 12
    # rows alone, not together (15 > 12)
    space = MappingSpace(conv("r", 5, 7, 9, 3, padding=1), load_accelerator("eyeriss_12x14_rs"))
    rows = {d: space.splits[d][:, 0] for d in ("C", "R")}
    g = np.zeros((1, 24), dtype=np.int64)
    g[0, 8:16] = g[0, 16:] = np.arange(8)
    g[0, 3] = int(np.flatnonzero(rows["C"] == 5)[0])
    g[0, 6] = int(np.flatnonzero(rows["R"] == 3)[0])
    assert space.decode(g)[1].tolist() == [False]
    g[0, 6] = int(np.flatnonzero(rows["R"] == 1)[0])
    assert space.decode(g)[1].tolist() == [True]


def test_genome_chunks_yield_the_enumeration_lazily_in_small_arrays() -> None:
    space = MappingSpace(gemm("g", 24, 20, 36), load_accelerator("edge_8x8_ws"))
    total, chunks = space.genome_chunks(10**7, rows=500)
    parts = list(chunks)
    assert max(len(p) for p in parts) <= 500 * 2      # a group's orders stay together
    whole = np.concatenate(parts)
    assert len(whole) == total
    assert np.array_equal(whole, space.enumerate_genomes(10**7))
    with pytest.raises(SpaceError, match=r"exceed the exhaustive limit 10; use a heuristic"):
        space.genome_chunks(10)                        # raised before any point is made
