"""The convolutional trunk of the reward ensemble, for image observations (Christiano et al. 2017, appendix A.2).

The paper's Atari reward predictor reads the policy's own 84×84×4 frame stack through 4 conv layers (7×7, 5×5,
3×3, 3×3; strides 3, 2, 1, 1; 16 filters each; leaky ReLU, α = 0.01), every one with batch norm and dropout
(p = 0.5) against overfitting the few labels, then a 64-unit layer and a scalar. That stack needs inputs of
at least 43 pixels a side, so small grids (MinAtar's 10×10) get one 3×3 stride-1 layer of 16 filters instead,
the MinAtar paper's own network (Young & Tian 2019); the 64-unit layer then relates positions across the grid.
Measured on 2 busy cores, 800 frames of 10×10×4: a second 3×3 layer cost 1.7× the time of a training step.

All members run as one op, as the MLP ensemble does (``prefrl.reward.nets``): the first layer is a single
convolution with ``N × 16`` filters (every member reads the same frames), later layers are grouped
convolutions with one group per member, and batch norm over ``N × 16`` channels keeps statistics per member
and filter. The fully connected head lives in ``RewardEnsemble``, which appends the action to these features;
the trainer's adaptive L2 acts on that head, the convolutions are held back by batch norm and dropout as in
the paper.

PPO is paid r̂ once per env step, a handful of frames at a time, where torch's per-op dispatch costs more than
the arithmetic (measured: see ``NumpyTrunk``). So the trunk also exports an eval-mode copy for NumPy, with batch
norm folded into each convolution's weights and dropout (the identity in eval mode) left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from prefrl.images import ImageLayout
from prefrl.reward.init import fan_in_uniform

LEAKY_SLOPE = 0.01  # the paper's α for leaky ReLU, as in the MLP members
DROPOUT = 0.5  # the paper's dropout on every conv layer of the Atari predictor


class ByteDropout(nn.Module):
    """Dropout whose mask comes from one random byte per element instead of ``nn.Dropout``'s Bernoulli draws.

    On the CPU, ``nn.Dropout`` drew its mask at a fraction of the speed of the convolution it follows: measured
    on (800, 48, 8, 8) maps, the training minibatch of MinAtar Breakout's three members, forward and backward
    took 32 ms with it, 10 ms with a byte mask, against 3 ms for no dropout (one thread). That mask was the
    largest cost of a background fit, and a fit that takes longer lands later.
    The probability is rounded to a multiple of 1/256 (0.5 is exact); the kept units are scaled by
    ``1 / (1 - p)`` of the rounded ``p``, so the expected output equals the input, as with ``nn.Dropout``.
    Random bytes come from torch's global generator, which the trainer seeds.
    """

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability {p} must be in [0, 1).")
        self.threshold = round(p * 256)  # a unit is dropped when its byte is below this
        self.scale = 256.0 / (256 - self.threshold)

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        if not self.training or self.threshold == 0:
            return maps
        random_bytes = torch.randint(0, 256, maps.shape, dtype=torch.uint8, device=maps.device)
        scaled_mask = (random_bytes >= self.threshold).to(maps.dtype).mul_(self.scale)  # 0 or 1 / (1 - p)
        return maps * scaled_mask

    def extra_repr(self) -> str:
        return f"p={self.threshold / 256}"


@dataclass(frozen=True)
class ConvLayer:
    """One convolution of every member: ``kernel × kernel`` with ``filters`` outputs, no padding."""

    kernel: int
    stride: int
    filters: int = 16

    def output_size(self, size: int) -> int:
        return (size - self.kernel) // self.stride + 1


PAPER_LAYERS = (ConvLayer(7, 3), ConvLayer(5, 2), ConvLayer(3, 1), ConvLayer(3, 1))
"""Christiano et al. 2017, appendix A.2: the Atari reward predictor's convolutions (84×84 -> 7×7×16)."""

SMALL_LAYERS = (ConvLayer(3, 1),)
"""For grids too small for the paper's stack, such as MinAtar's 10×10 (-> 8×8×16)."""

NUMPY_TRUNK_MAX_MULTIPLY_ADDS = 1_000_000
"""Per-frame cost (all members) up to which per-step inference runs in :class:`NumpyTrunk` rather than torch.

Measured on 2 cores, one thread each, 8 frames a call (``experiments/inference_paths.py``): MinAtar's trunk
(0.11M multiply-adds a frame) took 18 µs a frame in NumPy and 47–56 in torch, where dispatch dominates; the
paper's trunk on 84×84×4 (9.6M) took 577–632 µs in NumPy and 278–305 in torch's convolutions."""


def conv_layers_for(height: int, width: int) -> tuple[ConvLayer, ...]:
    """The paper's stack where the image is large enough for it, else the small one."""
    for layers in (PAPER_LAYERS, SMALL_LAYERS):
        side = min(height, width)
        for layer in layers:
            side = layer.output_size(side)
        if side >= 1:
            return layers
    raise ValueError(
        f"observation of {height}×{width} pixels is too small for the reward CNN (it needs at least 3×3); "
        "flatten it first (gymnasium.wrappers.FlattenObservation) so the MLP reward net reads it."
    )


class ConvEnsembleTrunk(nn.Module):
    """Conv features of every member for a batch of raw images: ``(B, *obs_shape)`` -> ``(N, B, features)``.

    Batch norm uses batch statistics in training mode and running ones in eval mode, and dropout is active only
    in training mode, so the owner keeps the module in eval mode except while fitting (``RewardTrainer``).

    :param layout: where the channels are and how pixels scale to [0, 1].
    :param ensemble_size: number of members ``N``.
    :param generator: source of the initial weights, drawn independently for each member.
    :param dropout: dropout probability after every conv layer.
    """

    def __init__(
        self,
        layout: ImageLayout,
        ensemble_size: int,
        generator: torch.Generator | None = None,
        dropout: float = DROPOUT,
    ) -> None:
        super().__init__()
        self.layout = layout
        self.ensemble_size = int(ensemble_size)
        members = self.ensemble_size
        modules: list[nn.Module] = []
        convs: list[tuple[nn.Conv2d, nn.BatchNorm2d, int, ConvLayer]] = []
        channels, height, width = layout.channels, layout.height, layout.width
        self.multiply_adds = 0  # per frame, all members: what one prediction costs
        for index, layer in enumerate(conv_layers_for(height, width)):
            # The first layer reads the shared frames; later ones read only their own member's channels.
            groups = 1 if index == 0 else members
            conv = nn.Conv2d(channels * (1 if index == 0 else members), members * layer.filters, layer.kernel,
                             layer.stride, groups=groups)
            fan_in = channels * layer.kernel**2
            with torch.no_grad():
                conv.weight.copy_(fan_in_uniform(conv.weight.shape, fan_in, generator))
                conv.bias.copy_(fan_in_uniform(conv.bias.shape, fan_in, generator))
            norm = nn.BatchNorm2d(members * layer.filters)
            modules += [conv, norm, nn.LeakyReLU(LEAKY_SLOPE), ByteDropout(dropout)]
            convs.append((conv, norm, groups, layer))
            channels, height, width = layer.filters, layer.output_size(height), layer.output_size(width)
            self.multiply_adds += members * layer.filters * height * width * conv.weight.shape[1] * layer.kernel**2
        self.layers = nn.Sequential(*modules)
        self._convs = tuple(convs)  # plain references to the same modules, for numpy_copy
        self.out_features = channels * height * width

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        batch = obs.shape[0]
        maps = self.layers(self.layout.to_chw(obs))  # (B, C, H, W) -> (B, N*16, H', W')
        return maps.reshape(batch, self.ensemble_size, -1).transpose(0, 1)  # (N, B, 16*H'*W')

    @torch.no_grad()
    def numpy_copy(self) -> "NumpyTrunk":
        """The eval-mode trunk as NumPy arrays (a snapshot: take a new one after the weights change)."""
        layers = []
        channels, height, width = self.layout.channels, self.layout.height, self.layout.width
        for conv, norm, groups, layer in self._convs:
            # Eval-mode batch norm is an affine map per channel: fold it into the convolution before it.
            factor = norm.weight / torch.sqrt(norm.running_var + norm.eps)  # (C_out,)
            weight = conv.weight * factor[:, None, None, None]  # (C_out, C_in/G, k, k)
            bias = (conv.bias - norm.running_mean) * factor + norm.bias  # (C_out,)
            out_per_group = weight.shape[0] // groups
            columns = weight.reshape(groups, out_per_group, -1).transpose(1, 2)  # (G, C_in/G*k*k, C_out/G)
            windows = window_indices(channels, height, width, groups, layer)
            channels, height, width = weight.shape[0], layer.output_size(height), layer.output_size(width)
            layers.append(NumpyConv(columns.numpy().copy(), bias.reshape(groups, 1, out_per_group).numpy().copy(), windows,
                                    height, width))
        return NumpyTrunk(self.layout, self.ensemble_size, tuple(layers))


def window_indices(channels: int, height: int, width: int, groups: int, layer: ConvLayer) -> np.ndarray:
    """Where each convolution window reads a flattened ``(channels, height, width)`` map: ``(G, H'*W', C/G*k*k)``.

    Row ``p`` of group ``g`` lists the window at output pixel ``p`` over that group's channels, in the order of a
    ``(C/G, k, k)`` weight. One ``take`` with these gathers every window of a batch (im2col) in a single copy,
    where a strided view, a transpose and a reshape cost three times as long on MinAtar's frames (16 µs against
    43 for 8 frames, measured on idle cores).
    """
    per_group, kernel, stride = channels // groups, layer.kernel, layer.stride
    out_height, out_width = layer.output_size(height), layer.output_size(width)
    channel, row, column = np.meshgrid(np.arange(per_group), np.arange(kernel), np.arange(kernel), indexing="ij")
    window = (channel * height * width + row * width + column).reshape(1, -1)  # (1, C/G*k*k): a window at (0, 0)
    top, left = np.meshgrid(np.arange(out_height) * stride, np.arange(out_width) * stride, indexing="ij")
    origin = (top * width + left).reshape(-1, 1)  # (H'*W', 1)
    group_start = (np.arange(groups) * per_group * height * width).reshape(-1, 1, 1)  # (G, 1, 1)
    return (group_start + origin + window).astype(np.intp)  # (G, H'*W', C/G*k*k)


@dataclass(frozen=True)
class NumpyConv:
    """One convolution of the trunk with its batch norm folded in, as a matrix product per group.

    :param weight: ``(G, C_in/G * k * k, C_out/G)``, rows in the order of a ``(C_in/G, k, k)`` window.
    :param bias: ``(G, 1, C_out/G)``.
    :param windows: :func:`window_indices` for this layer's input size.
    """

    weight: np.ndarray
    bias: np.ndarray
    windows: np.ndarray
    out_height: int
    out_width: int

    def __call__(self, maps: np.ndarray) -> np.ndarray:
        """Convolution and leaky ReLU: ``(B, C_in, H, W)`` -> ``(B, C_out, H', W')``."""
        batch = maps.shape[0]
        columns = maps.reshape(batch, -1).take(self.windows, axis=1)  # (B, G, H'*W', C_in/G*k*k)
        out = columns @ self.weight + self.bias  # (B, G, H'*W', C_out/G)
        out = np.maximum(out, LEAKY_SLOPE * out)
        return out.transpose(0, 1, 3, 2).reshape(batch, -1, self.out_height, self.out_width)  # (B, C_out, H', W')


@dataclass(frozen=True)
class NumpyTrunk:
    """:class:`ConvEnsembleTrunk` in eval mode, in NumPy: ``(B, *obs_shape)`` -> ``(N, B, features)``.

    Measured on the 2 shared cores (load ~10), 8 MinAtar frames (one env step of the preset's 8 envs), 3 members
    and the (64, 64) head: ``torch_predict`` took 1.8-3.0 ms a call, ``predict`` through this path 0.6-1.3 ms.
    """

    layout: ImageLayout
    ensemble_size: int
    layers: tuple[NumpyConv, ...]

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        maps = numpy_chw(self.layout, obs)
        for layer in self.layers:
            maps = layer(maps)  # (B, N*16, H', W')
        return maps.reshape(maps.shape[0], self.ensemble_size, -1).transpose(1, 0, 2)  # (N, B, 16*H'*W')


def numpy_chw(layout: ImageLayout, images: np.ndarray) -> np.ndarray:
    """NumPy twin of :meth:`ImageLayout.to_chw`: ``(B, *obs_shape)`` raw pixels -> ``(B, C, H, W)`` float32 in [0, 1]."""
    maps = np.asarray(images, dtype=np.float32) * np.float32(layout.scale)
    return maps if layout.channels_first else maps.transpose(0, 3, 1, 2)
