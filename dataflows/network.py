"""A network: a directed acyclic graph of layers (networkx ``DiGraph``).

Nodes are layer names; each node carries its :class:`~dataflows.layer.Layer` under
the ``"layer"`` attribute. Edges are tensors flowing from producer to consumer.
Passive nodes (elementwise, pooling) have zero MACs and exist to keep the topology.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import networkx as nx

from dataflows.errors import CoforgeError
from dataflows.layer import PASSIVE_KINDS, Layer


class NetworkError(CoforgeError):
    """A graph-level rule is broken (duplicate name, unknown input, a cycle)."""


class Network:
    """A named DAG of layers. Build with :meth:`add`; read with :meth:`layers`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.graph: nx.DiGraph = nx.DiGraph(name=name)
        self._last: str | None = None

    def add(self, layer: Layer, inputs: Iterable[str] | None = None) -> str:
        """Add ``layer`` fed by ``inputs`` (default: the previously added node).

        Returns the node name so that builders can wire branches.
        """
        if layer.name in self.graph:
            raise NetworkError(f"network {self.name!r}: duplicate layer name {layer.name!r}")
        srcs = list(inputs) if inputs is not None else ([self._last] if self._last else [])
        for src in srcs:
            if src not in self.graph:
                raise NetworkError(
                    f"network {self.name!r}: layer {layer.name!r} reads unknown input {src!r}"
                )
        self.graph.add_node(layer.name, layer=layer)
        for src in srcs:
            self.graph.add_edge(src, layer.name)
        self._last = layer.name
        return layer.name

    @classmethod
    def chain(cls, name: str, layers: Iterable[Layer]) -> "Network":
        """A linear network: each layer feeds the next."""
        net = cls(name)
        for layer in layers:
            net.add(layer)
        return net

    def nodes(self) -> list[Layer]:
        """Every node (passive ones included) in a deterministic topological order."""
        if not nx.is_directed_acyclic_graph(self.graph):
            raise NetworkError(f"network {self.name!r} has a cycle")
        index = {n: i for i, n in enumerate(self.graph.nodes)}
        order = nx.lexicographical_topological_sort(self.graph, key=index.__getitem__)
        return [self.graph.nodes[n]["layer"] for n in order]

    def layers(self) -> list[Layer]:
        """The compute layers (nonzero MACs) in topological order."""
        return [layer for layer in self.nodes() if layer.kind not in PASSIVE_KINDS]

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers())

    def __len__(self) -> int:
        return len(self.layers())

    def __getitem__(self, name: str) -> Layer:
        try:
            return self.graph.nodes[name]["layer"]
        except KeyError:
            raise KeyError(f"network {self.name!r} has no layer {name!r}") from None

    @property
    def total_macs(self) -> int:
        """Exact MAC count of the whole network."""
        return sum(layer.macs for layer in self.nodes())

    def replace_layers(self, fn) -> "Network":  # noqa: ANN001 - fn: Layer -> Layer
        """A copy with ``fn`` applied to every node's layer (names must be kept)."""
        out = Network(self.name)
        out.graph = self.graph.copy()
        for node in out.graph.nodes:
            new = fn(out.graph.nodes[node]["layer"])
            if new.name != node:
                raise NetworkError(f"replace_layers must keep names: {node!r} -> {new.name!r}")
            out.graph.nodes[node]["layer"] = new
        out._last = self._last
        return out

    def __repr__(self) -> str:
        return (f"Network({self.name!r}, {len(self.layers())} compute layers, "
                f"{self.total_macs / 1e9:.3f} GMACs)")
