"""Zero-cost proxies: scores of an untrained network from at most one batch, no training.

Each proxy is a function ``proxy(network, batch) -> float`` of a freshly
initialised ``nn.Module`` and a batch ``(inputs, targets)`` (normalised
images and class indices); larger is better for all of them. The
definitions follow Abdelfattah et al. 2021 ("Zero-Cost Proxies for
Lightweight NAS") and Mellor et al. 2021 ("Neural Architecture Search
without Training"); the layers they sum over are the convolutions and
linear layers (their weights):

============= =====================================================================
``synflow``   data-free: with every parameter replaced by its absolute value, batch
              norm switched off and one all-ones input in float64, the sum over
              weights of ``|w * dR/dw|`` where ``R`` is the sum of the outputs;
              reported as its natural logarithm (see :func:`synflow`)
``nwot``      NASWOT: ``log |det K|`` of the batch's kernel ``K[i, j]`` = number of
              rectifier units where images ``i`` and ``j`` agree (both active or
              both inactive), summed over every rectifier of the network
``jacov``     how uncorrelated the images' input Jacobians are:
              ``-sum(log(v + k) + 1 / (v + k))`` over the eigenvalues ``v`` of
              their correlation matrix, ``k = 1e-5``
``snip``      the sum over weights of ``|w * dL/dw|``, ``L`` the batch's cross-entropy
``grad_norm`` the sum over layers of the L2 norm of ``dL/dw``
============= =====================================================================

A proxy may change the network it is given (synflow takes absolute
values, the others leave gradients); :func:`score` hands each proxy its own
copy. Every proxy returns a finite float: a value that comes out NaN or
infinite (a network whose activations overflow, a singular kernel) is
replaced by :data:`WORST_SCORE`, below any real score.

The network's own mode is ignored: the data-dependent proxies run it in
training mode (batch norm normalises by the batch, as at the first
training step); synflow replaces batch norm by the identity (the original
method's ``bn=False``: with batch statistics an all-ones input would be
normalised to zero).
"""

from __future__ import annotations

import copy
import math
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "PROXIES",
    "DATA_FREE",
    "WORST_SCORE",
    "ProxyError",
    "synflow",
    "nwot",
    "jacov",
    "snip",
    "grad_norm",
    "score",
    "timed_scores",
    "forward_passes",
    "check_proxies",
]

#: What a proxy scores when its value is not finite: below any real score, and finite.
WORST_SCORE = -1e18

#: The layers whose weights the gradient-based proxies sum over.
WEIGHTED_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)

#: Activations whose on/off pattern (input > 0) makes NASWOT's binary codes.
RECTIFIERS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU)

#: The kernel's ridge in jacov (Mellor et al.'s ``k``).
JACOV_K = 1e-5


class ProxyError(ValueError):
    """An unknown proxy name."""


def _finite(value) -> float:
    value = float(value)
    return value if math.isfinite(value) else WORST_SCORE


def _weighted_layers(network):
    return [layer for layer in network.modules() if isinstance(layer, WEIGHTED_LAYERS)]


def _loss_gradients(network, batch):
    """Cross-entropy of the batch through ``network`` (training mode), back-propagated to the weights."""
    inputs, targets = batch
    network.train()
    network.zero_grad(set_to_none=True)
    loss = F.cross_entropy(network(inputs), targets)
    loss.backward()


class _Identity(nn.Module):
    def forward(self, x):
        return x


def _without_batch_norm(network):
    """``network`` with each batch-norm layer replaced by the identity (in place; returns it)."""
    for name, child in list(network.named_children()):
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            setattr(network, name, _Identity())
        else:
            _without_batch_norm(child)
    return network


def synflow(network, batch=None) -> float:
    """SynFlow (Tanaka et al. 2020) as a proxy: data-free, ``batch`` only gives the input's shape.

    Every parameter becomes its absolute value, batch norm the identity;
    one all-ones input goes forward in float64, the sum of the outputs
    backward, and the score is the sum over the weights of the convolutions
    and linear layers of ``|w * dR/dw|``. Products of weights over a deep
    network span hundreds of orders of magnitude, so the computation is in
    float64 (finite up to about 1e308) and the score reported is the sum's
    natural logarithm (same order; a network through which nothing flows
    sums to 0 and scores :data:`WORST_SCORE`). ``batch`` may be ``None``
    when the network's first layer names its input channels; the input is
    then ``(1, channels, 32, 32)``: pass a batch for other image sizes.
    """
    shape = _input_shape(network, batch)
    network = _without_batch_norm(network).double().train()
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.abs_()
    network.zero_grad(set_to_none=True)
    device = next(network.parameters()).device
    output = network(torch.ones((1, *shape), dtype=torch.float64, device=device))
    output.sum().backward()
    total = 0.0
    for layer in _weighted_layers(network):
        if layer.weight.grad is not None:
            total += float((layer.weight.detach() * layer.weight.grad).abs().sum())
    if not math.isfinite(total) or total <= 0:
        return WORST_SCORE
    return math.log(total)


def _input_shape(network, batch):
    if batch is not None:
        return tuple(batch[0].shape[1:])
    first = next((layer for layer in network.modules() if isinstance(layer, WEIGHTED_LAYERS)), None)
    if isinstance(first, nn.Conv2d):
        return (first.in_channels, 32, 32)
    if isinstance(first, nn.Linear):
        return (first.in_features,)
    raise ValueError("synflow needs a batch (or an input shape) for this network")


def nwot(network, batch) -> float:
    """NASWOT (Mellor et al. 2021): ``log |det K|`` of the rectifier codes' agreement kernel over the batch.

    Every rectifier-like activation (:data:`RECTIFIERS`) contributes, for
    each pair of images, the number of its units where the two agree (input
    positive for both, or for neither). A network without such activations
    scores :data:`WORST_SCORE`.
    """
    inputs, _ = batch
    n = inputs.shape[0]
    kernel = torch.zeros((n, n), dtype=torch.float64)

    def count(module, args):
        codes = (args[0].detach().reshape(n, -1) > 0).to(torch.float64).cpu()
        kernel.add_(codes @ codes.T).add_((1.0 - codes) @ (1.0 - codes).T)

    hooks = [m.register_forward_pre_hook(count) for m in network.modules() if isinstance(m, RECTIFIERS)]
    try:
        network.train()
        with torch.no_grad():
            network(inputs)
    finally:
        for hook in hooks:
            hook.remove()
    if not hooks:
        return WORST_SCORE
    sign, logdet = np.linalg.slogdet(kernel.numpy())
    return _finite(logdet) if sign != 0 else WORST_SCORE


def jacov(network, batch) -> float:
    """Jacobian covariance (Mellor et al. 2021, v1): images whose input gradients correlate less score higher.

    The gradient of the sum of each image's outputs with respect to that
    image; ``-sum(log(v + k) + 1/(v + k))`` over the eigenvalues ``v`` of
    the images' correlation matrix, ``k`` = :data:`JACOV_K`.
    """
    inputs, _ = batch
    inputs = inputs.detach().clone().requires_grad_(True)
    network.train()
    network.zero_grad(set_to_none=True)
    output = network(inputs)
    output.backward(torch.ones_like(output))
    jacobians = inputs.grad.detach().reshape(inputs.shape[0], -1).to(torch.float64).cpu().numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        correlation = np.corrcoef(jacobians)
    if not np.all(np.isfinite(correlation)):
        return WORST_SCORE  # an image whose gradient is constant (zero): no correlation to speak of
    values = np.linalg.eigvalsh(correlation)
    return _finite(-np.sum(np.log(values + JACOV_K) + 1.0 / (values + JACOV_K)))


def snip(network, batch) -> float:
    """SNIP (Lee et al. 2019) summed: ``sum |w * dL/dw|`` over the weights of convolutions and linear layers."""
    _loss_gradients(network, batch)
    total = 0.0
    for layer in _weighted_layers(network):
        if layer.weight.grad is not None:
            total += float((layer.weight.detach() * layer.weight.grad).abs().sum())
    return _finite(total)


def grad_norm(network, batch) -> float:
    """The sum over convolutions and linear layers of the L2 norm of the loss's gradient of their weights."""
    _loss_gradients(network, batch)
    total = 0.0
    for layer in _weighted_layers(network):
        if layer.weight.grad is not None:
            total += float(layer.weight.grad.norm())
    return _finite(total)


#: Every proxy by name.
PROXIES = {"synflow": synflow, "nwot": nwot, "jacov": jacov, "snip": snip, "grad_norm": grad_norm}

#: Proxies that read no data (the batch only gives the input's shape).
DATA_FREE = ("synflow",)


def forward_passes(name: str, batch_size: int) -> int:
    """Image forward passes' worth of multiply-adds one proxy costs: a backward pass counts as two forwards.

    synflow: one image forward and backward (3); nwot: the batch forward
    (``batch_size``); jacov, snip, grad_norm: the batch forward and backward
    (``3 * batch_size``).
    """
    check_proxies([name])
    if name == "synflow":
        return 3
    if name == "nwot":
        return batch_size
    return 3 * batch_size


def check_proxies(names) -> tuple:
    """``names`` as a tuple, or a :class:`ProxyError` naming the unknown one and the choices."""
    names = (names,) if isinstance(names, str) else tuple(names)
    for name in names:
        if name not in PROXIES:
            raise ProxyError(f"unknown proxy {name!r}: choose from {', '.join(PROXIES)}")
    if not names:
        raise ProxyError(f"name at least one proxy: {', '.join(PROXIES)}")
    return names


def timed_scores(network, batch, names) -> tuple[dict, dict]:
    """``(scores, seconds)``: each named proxy's score of ``network`` on ``batch`` and the seconds it took.

    Each proxy gets its own copy of the network (the last one the network itself).
    """
    names = check_proxies(names)
    scores, seconds = {}, {}
    for position, name in enumerate(names):
        started = time.perf_counter()
        own = network if position == len(names) - 1 else copy.deepcopy(network)
        scores[name] = _finite(PROXIES[name](own, batch))
        seconds[name] = time.perf_counter() - started
    return scores, seconds


def score(network, batch, names) -> dict:
    """Each named proxy's score of ``network`` on ``batch`` (``{name: float}``); see :func:`timed_scores`."""
    return timed_scores(network, batch, names)[0]
