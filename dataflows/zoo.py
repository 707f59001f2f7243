"""Built-in networks: the classic CNNs and two transformers, as layer DAGs.

Every network is batch ``batch`` at its reference input (224x224 images; sequence 128
for BERT). The graphs keep the real topology: residual adds and pooling are passive
(zero-MAC) nodes, shortcut convolutions are branches, classifiers are ``fc`` layers.
Activations, batch norm and layer norm are folded away (they have no MACs) except
where a node marks a join (``add``) or an attention softmax.

>>> net = load("resnet18")
>>> net.total_macs
1814073344
>>> net["layer2.0.downsample"].dims["K"]
128
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from dataflows.errors import CoforgeError
from dataflows.layer import attention_av, attention_qk, conv, fc, passive
from dataflows.llm import CONFIGS as _LLM_CONFIGS
from dataflows.llm import ZOO_PROMPT_TOKENS, DecoderConfig, prefill_network
from dataflows.network import Network


class ZooError(CoforgeError):
    """Unknown network name or bad load argument."""


#: Published MAC counts in GMACs (1e9 multiply-accumulates) at batch 1.
PUBLISHED_GMACS: dict[str, float] = {
    # torchvision model docs, AlexNet_Weights.IMAGENET1K_V1 meta "_ops" (GFLOPS column,
    # which counts multiply-adds), for the torchvision "one weird trick" variant.
    "alexnet": 0.714,
    # torchvision docs, VGG16_Weights.IMAGENET1K_V1 "_ops".
    "vgg16": 15.47,
    # torchvision docs, ResNet18_Weights.IMAGENET1K_V1 "_ops".
    "resnet18": 1.814,
    # torchvision docs, ResNet50_Weights.IMAGENET1K_V1 "_ops" (ResNet v1.5: stride in 3x3).
    "resnet50": 4.089,
    # Howard et al., "MobileNets", arXiv:1704.04861, Table 8: 1.0 MobileNet-224, 569M
    # mult-adds.
    "mobilenet_v1": 0.569,
    # torchvision docs, MobileNet_V2_Weights.IMAGENET1K_V1 "_ops" (Sandler et al.,
    # arXiv:1801.04381, Table 6, quote 300M multiply-adds).
    "mobilenet_v2": 0.301,
    # No single published figure: the analytic count for the BERT-base dimensions of
    # Devlin et al., arXiv:1810.04805 (L=12, H=768, A=12, FFN 3072) at sequence 128,
    # encoder only: 12 * (4*128*768^2 + 2*12*128^2*64 + 2*128*768*3072).
    "bert_base": 11.17,
    # torchvision docs, ViT_B_16_Weights.IMAGENET1K_V1 "_ops" (Dosovitskiy et al.,
    # arXiv:2010.11929, ViT-B/16 at 224x224).
    "vit_b16": 17.564,
}


# -- CNNs -------------------------------------------------------------------------------
def _alexnet(batch: int) -> Network:
    """torchvision AlexNet (Krizhevsky 2014 "one weird trick" variant)."""
    net = Network("alexnet")
    net.add(conv("conv1", 3, 64, 224, 11, stride=4, padding=2, batch=batch))      # 55
    net.add(passive("pool1", "pool", 64, 27, batch=batch))                          # 3x3 s2
    net.add(conv("conv2", 64, 192, 27, 5, padding=2, batch=batch))
    net.add(passive("pool2", "pool", 192, 13, batch=batch))
    net.add(conv("conv3", 192, 384, 13, 3, padding=1, batch=batch))
    net.add(conv("conv4", 384, 256, 13, 3, padding=1, batch=batch))
    net.add(conv("conv5", 256, 256, 13, 3, padding=1, batch=batch))
    net.add(passive("pool5", "pool", 256, 6, batch=batch))
    net.add(passive("avgpool", "pool", 256, 6, batch=batch))                        # adaptive 6x6
    net.add(fc("fc6", 256 * 6 * 6, 4096, batch=batch))
    net.add(fc("fc7", 4096, 4096, batch=batch))
    net.add(fc("fc8", 4096, 1000, batch=batch))
    return net


def _vgg16(batch: int) -> Network:
    """VGG-16 (configuration D), torchvision layout."""
    net = Network("vgg16")
    in_ch, hw = 3, 224
    for stage, (out_ch, convs) in enumerate(((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)),
                                            start=1):
        for i in range(1, convs + 1):
            net.add(conv(f"conv{stage}_{i}", in_ch, out_ch, hw, 3, padding=1, batch=batch))
            in_ch = out_ch
        hw //= 2
        net.add(passive(f"pool{stage}", "pool", out_ch, hw, batch=batch))
    net.add(passive("avgpool", "pool", 512, 7, batch=batch))                        # adaptive 7x7
    net.add(fc("fc6", 512 * 7 * 7, 4096, batch=batch))
    net.add(fc("fc7", 4096, 4096, batch=batch))
    net.add(fc("fc8", 4096, 1000, batch=batch))
    return net


def _resnet(name: str, bottleneck: bool, blocks: tuple[int, ...], batch: int) -> Network:
    """torchvision ResNet: BasicBlock (18/34) or Bottleneck v1.5 (50+)."""
    net = Network(name)
    net.add(conv("conv1", 3, 64, 224, 7, stride=2, padding=3, batch=batch))       # 112
    x = net.add(passive("maxpool", "pool", 64, 56, batch=batch))                    # 3x3 s2 p1
    in_ch, hw = 64, 56
    expansion = 4 if bottleneck else 1
    for stage, count in enumerate(blocks, start=1):
        width = 64 * 2 ** (stage - 1)
        out_ch = width * expansion
        for b in range(count):
            stride = 2 if stage > 1 and b == 0 else 1
            out_hw = (hw - 1) // stride + 1
            pre = f"layer{stage}.{b}"
            if bottleneck:
                y = net.add(conv(f"{pre}.conv1", in_ch, width, hw, 1, batch=batch), [x])
                y = net.add(conv(f"{pre}.conv2", width, width, hw, 3, stride=stride,
                                 padding=1, batch=batch), [y])
                y = net.add(conv(f"{pre}.conv3", width, out_ch, out_hw, 1, batch=batch), [y])
            else:
                y = net.add(conv(f"{pre}.conv1", in_ch, width, hw, 3, stride=stride,
                                 padding=1, batch=batch), [x])
                y = net.add(conv(f"{pre}.conv2", width, out_ch, out_hw, 3, padding=1,
                                 batch=batch), [y])
            shortcut = x
            if stride != 1 or in_ch != out_ch:
                shortcut = net.add(conv(f"{pre}.downsample", in_ch, out_ch, hw, 1,
                                        stride=stride, batch=batch), [x])
            x = net.add(passive(f"{pre}.add", "elementwise", out_ch, out_hw, batch=batch),
                        [y, shortcut])
            in_ch, hw = out_ch, out_hw
    net.add(passive("avgpool", "pool", in_ch, 1, batch=batch), [x])
    net.add(fc("fc", in_ch, 1000, batch=batch))
    return net


def _mobilenet_v1(batch: int) -> Network:
    """MobileNet v1 1.0/224 (Howard et al. 2017, Table 1; the last dw conv is stride 1)."""
    net = Network("mobilenet_v1")
    net.add(conv("conv0", 3, 32, 224, 3, stride=2, padding=1, batch=batch))       # 112
    in_ch, hw = 32, 112
    plan = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
            (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))
    for i, (out_ch, stride) in enumerate(plan, start=1):
        net.add(conv(f"conv{i}.dw", in_ch, in_ch, hw, 3, stride=stride, padding=1,
                     groups=in_ch, batch=batch))
        hw = (hw - 1) // stride + 1
        net.add(conv(f"conv{i}.pw", in_ch, out_ch, hw, 1, batch=batch))
        in_ch = out_ch
    net.add(passive("avgpool", "pool", in_ch, 1, batch=batch))
    net.add(fc("fc", in_ch, 1000, batch=batch))
    return net


def _mobilenet_v2(batch: int) -> Network:
    """MobileNet v2 1.0/224, torchvision layout (features.0 .. features.18, classifier)."""
    net = Network("mobilenet_v2")
    x = net.add(conv("features.0", 3, 32, 224, 3, stride=2, padding=1, batch=batch))
    in_ch, hw, index = 32, 112, 1
    # (expansion t, output channels c, repeats n, first stride s) from the paper, Table 2.
    for t, c, n, s in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                       (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)):
        for i in range(n):
            stride = s if i == 0 else 1
            pre, hidden = f"features.{index}", in_ch * t
            out_hw = (hw - 1) // stride + 1
            y = x
            if t != 1:
                y = net.add(conv(f"{pre}.expand", in_ch, hidden, hw, 1, batch=batch), [y])
            y = net.add(conv(f"{pre}.dw", hidden, hidden, hw, 3, stride=stride, padding=1,
                             groups=hidden, batch=batch), [y])
            y = net.add(conv(f"{pre}.project", hidden, c, out_hw, 1, batch=batch), [y])
            if stride == 1 and in_ch == c:
                y = net.add(passive(f"{pre}.add", "elementwise", c, out_hw, batch=batch),
                            [y, x])
            x, in_ch, hw, index = y, c, out_hw, index + 1
    net.add(conv(f"features.{index}", in_ch, 1280, hw, 1, batch=batch), [x])
    net.add(passive("avgpool", "pool", 1280, 1, batch=batch))
    net.add(fc("classifier", 1280, 1000, batch=batch))
    return net


# -- transformers -----------------------------------------------------------------------
def _encoder_layer(net: Network, pre: str, x: str, seq: int, batch: int,
                   hidden: int = 768, heads: int = 12, ffn: int = 3072) -> str:
    """One encoder block fed by node ``x``.

    Q, K, V and output projections and the FFN are ``fc`` layers over ``batch * seq``
    token rows; the two attention matmuls use one group per head. Returns the last node.
    """
    rows, head_dim = batch * seq, hidden // heads
    q = net.add(fc(f"{pre}.query", hidden, hidden, batch=rows), [x])
    k = net.add(fc(f"{pre}.key", hidden, hidden, batch=rows), [x])
    v = net.add(fc(f"{pre}.value", hidden, hidden, batch=rows), [x])
    s = net.add(replace(attention_qk(f"{pre}.scores", seq, head_dim, heads), N=batch), [q, k])
    s = net.add(passive(f"{pre}.softmax", "elementwise", heads * seq, (seq, 1), batch=batch),
                [s])
    a = net.add(replace(attention_av(f"{pre}.context", seq, head_dim, heads), N=batch), [s, v])
    a = net.add(fc(f"{pre}.out_proj", hidden, hidden, batch=rows), [a])
    res1 = net.add(passive(f"{pre}.add1", "elementwise", hidden, (seq, 1), batch=batch),
                   [a, x])
    h = net.add(fc(f"{pre}.ffn1", hidden, ffn, batch=rows), [res1])
    h = net.add(fc(f"{pre}.ffn2", ffn, hidden, batch=rows), [h])
    return net.add(passive(f"{pre}.add2", "elementwise", hidden, (seq, 1), batch=batch),
                   [h, res1])


def _bert_base(batch: int) -> Network:
    """BERT-base encoder stack at sequence 128 (embedding lookups carry no MACs; no pooler)."""
    net = Network("bert_base")
    # Token + position + segment embedding lookups and LayerNorm: no MACs, one source node.
    x = net.add(passive("embeddings", "elementwise", 768, (128, 1), batch=batch))
    for i in range(12):
        x = _encoder_layer(net, f"layer.{i}", x, 128, batch)
    return net


def _vit_b16(batch: int) -> Network:
    """ViT-B/16 at 224x224: 196 patches + class token = 197 tokens, 12 blocks, 1000 classes."""
    net = Network("vit_b16")
    net.add(conv("conv_proj", 3, 768, 224, 16, stride=16, batch=batch))             # 14x14
    # Class-token concat + position embedding (no MACs): 197 tokens of 768.
    x = net.add(passive("encoder.embed", "elementwise", 768, (197, 1), batch=batch))
    for i in range(12):
        x = _encoder_layer(net, f"encoder.layers.{i}", x, 197, batch)
    net.add(passive("encoder.ln", "elementwise", 768, (197, 1), batch=batch), [x])
    net.add(fc("heads.head", 768, 1000, batch=batch))                               # class token
    return net


_BUILDERS: dict[str, Callable[[int], Network]] = {
    "alexnet": _alexnet,
    "vgg16": _vgg16,
    "resnet18": lambda b: _resnet("resnet18", False, (2, 2, 2, 2), b),
    "resnet50": lambda b: _resnet("resnet50", True, (3, 4, 6, 3), b),
    "mobilenet_v1": _mobilenet_v1,
    "mobilenet_v2": _mobilenet_v2,
    "bert_base": _bert_base,
    "vit_b16": _vit_b16,
}

#: The CNNs and encoders (each with a published MAC count in :data:`PUBLISHED_GMACS`).
ZOO_NAMES: tuple[str, ...] = tuple(_BUILDERS)
#: The decoder LLMs (:mod:`dataflows.llm`); :func:`load` gives their prefill phase of
#: ``ZOO_PROMPT_TOKENS`` tokens, :func:`llm_config` their config.
LLM_NAMES: tuple[str, ...] = tuple(_LLM_CONFIGS)
#: Every name :func:`load` accepts.
ALL_NAMES: tuple[str, ...] = ZOO_NAMES + LLM_NAMES


def llm_config(name: str) -> DecoderConfig | None:
    """The decoder config of an LLM zoo name, None for the other networks."""
    return _LLM_CONFIGS.get(name)


def load(name: str, batch: int = 1) -> Network:
    """Build the zoo network ``name`` at ``batch``; raises :class:`ZooError` if unknown."""
    if name not in _BUILDERS and name not in _LLM_CONFIGS:
        raise ZooError(f"unknown network {name!r}; available: {', '.join(ALL_NAMES)}")
    if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
        raise ZooError(f"batch must be a positive integer, not {batch!r}")
    if name in _LLM_CONFIGS:
        return prefill_network(_LLM_CONFIGS[name], ZOO_PROMPT_TOKENS, batch)
    return _BUILDERS[name](batch)
