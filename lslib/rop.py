"""Closed-form Hessian-vector products for a Sequential of Conv2d, Linear, ReLU, MaxPool2d
and Flatten layers under mean cross-entropy (``lslib.hessian``'s ``method='cnn'``).

Pearlmutter's R-operator written out layer by layer, as ``_MLPCurvature`` does for a
Linear/ReLU chain. One forward and backward pass at the weights keeps, per image, each
layer's input, the ReLU masks, the max-pools' argmax indices and the gradient with
respect to each weighted layer's input; a product is then a tangent forward pass
(R{z} = conv(R{a}, W) + conv(a, V) + v_b, through the pools' indices and the ReLU masks)
and one backward pass carrying the gradient g and its derivative R{g} together:
HV_W = wgrad(a, R{g}) + wgrad(R{a}, g), R{g}_in = igrad(R{g}, W) + igrad(g, V), two
``convolution_backward`` calls a layer. relu'' = 0 and the pools' argmax are fixed, as in
autograd, whose double backward computes the same sums (tests check both against a dense
Hessian). Compared with double backpropagation it skips the forward and backward pass that
every product repeats when the gradient graph cannot be kept, and the engine's bookkeeping.
"""

import torch
import torch.nn.functional as F
from torch import nn

from lslib.params import Params, unflatten

_conv_backward = torch.ops.aten.convolution_backward


def sequential_ops(model: nn.Module) -> list | None:
    """[(kind, name, module)] for an nn.Sequential of Conv2d (zero padding as numbers),
    Linear, ReLU, Flatten(1, -1) and non-overlapping MaxPool2d (kernel = stride, no padding,
    dilation, ceil mode or returned indices), with Conv2d and pools on 4-D tensors and
    Linear layers on flat ones, no weighted module used twice and a Linear last; else None."""
    if not isinstance(model, nn.Sequential):
        return None
    ops, seen, flat = [], set(), None  # flat: the tensor is 2-D (True), 4-D (False), unknown
    for name, m in model._modules.items():  # every entry, also a module used twice
        kind = _kind(m)
        if kind is None or (kind == "conv" and flat) or (kind == "pool" and flat):
            return None
        if kind in ("conv", "linear"):
            if id(m) in seen or (kind == "linear" and flat is False):
                return None
            seen.add(id(m))
        flat = {"conv": False, "linear": True, "flatten": True}.get(kind, flat)
        ops.append((kind, name, m))
    if not ops or ops[-1][0] != "linear":
        return None
    return ops


def _kind(m: nn.Module) -> str | None:
    if type(m) is nn.Conv2d and m.padding_mode == "zeros" and not isinstance(m.padding, str):
        return "conv"
    if type(m) is nn.MaxPool2d and _plain_pool(m):
        return "pool"
    if type(m) is nn.Flatten and (m.start_dim, m.end_dim) == (1, -1):
        return "flatten"
    return {nn.Linear: "linear", nn.ReLU: "relu"}.get(type(m))


def _plain_pool(m: nn.MaxPool2d) -> bool:
    pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)
    k, s = pair(m.kernel_size), pair(m.stride if m.stride is not None else m.kernel_size)
    plain = pair(m.padding) == (0, 0) and pair(m.dilation) == (1, 1)
    return k == s and plain and not m.ceil_mode and not m.return_indices


class SequentialCurvature:
    """Exact Hessian-vector products of the mean cross-entropy of ``sequential_ops``' model.

    Holds the per-image state of one forward and backward pass at ``params`` on (x, y);
    ``__call__(v)`` returns H v as a flat vector in the parameters' order.
    """

    def __init__(self, ops, params: Params, x: torch.Tensor, y: torch.Tensor):
        self.ops, self.params, self.n = ops, params, len(y)
        order, self.keys = [], {}
        for kind, name, m in ops:
            if kind in ("conv", "linear"):
                kb = None if m.bias is None else f"{name}.bias"
                if (kb is None) != (params.get(f"{name}.bias") is None):
                    raise ValueError(f"parameters and model disagree on {name}.bias")
                self.keys[name] = (f"{name}.weight", kb)
                order += [k for k in self.keys[name] if k is not None]
        if order != list(params):
            raise ValueError(f"parameter order {list(params)} is not the model's {order}")
        self._x = x.untyped_storage().data_ptr()
        self._forward(x)
        self._backward(y)

    @torch.no_grad()
    def _forward(self, x):
        self.inputs, self.masks, self.pools, self.shapes = {}, {}, {}, {}
        a, first = x, next(i for i, (k, *_) in enumerate(self.ops) if k in ("conv", "linear"))
        for i, (kind, name, m) in enumerate(self.ops):
            if i < first:  # parameter-free layers before any weight: no state needed
                a = m(a)
                continue
            if kind in ("conv", "linear"):
                if kind == "linear" and a.dim() != 2:
                    raise ValueError(
                        f"method='cnn' needs 2-D inputs to Linear layers; {name} gets {a.dim()}-D"
                    )
                self.inputs[name] = a
                a = self._affine(m, name, a, self.params)
            elif kind == "relu":
                a = a.relu()
                self.masks[name] = a > 0
            elif kind == "pool":
                self.shapes[name] = a.shape
                a, self.pools[name] = F.max_pool2d(a, m.kernel_size, m.stride, return_indices=True)
            else:
                self.shapes[name] = a.shape
                a = a.flatten(m.start_dim, m.end_dim)
        self.p = torch.softmax(a, 1)

    @torch.no_grad()
    def _backward(self, y):
        g = self.p.clone()
        g[torch.arange(self.n, device=g.device), y] -= 1
        g /= self.n
        self.g_out = g  # dL/dz at the logits
        self.g_in = {}  # dL/da at each weighted layer's input (but the first)
        first = next(name for kind, name, _ in self.ops if kind in ("conv", "linear"))
        for kind, name, m in reversed(self.ops):
            if kind in ("conv", "linear"):
                if name == first:
                    break
                g = _grads(m, g, self.inputs[name], self.params[self.keys[name][0]], True, False)[0]
                self.g_in[name] = g
            else:
                g = self._back(kind, name, m, g)

    def _affine(self, m, name, a, p, bias=True):
        w, b = p[self.keys[name][0]], p[self.keys[name][1]] if bias and self.keys[name][1] else None
        if isinstance(m, nn.Linear):
            return a @ w.T if b is None else torch.addmm(b, a, w.T)
        return F.conv2d(a, w, b, m.stride, m.padding, m.dilation, m.groups)

    @property
    def nbytes(self) -> int:
        """Bytes of the state kept beyond the input x."""
        first, *inputs = self.inputs.values()
        kept = [*inputs, *self.masks.values(), *self.pools.values()]
        kept += [*self.g_in.values(), self.g_out, self.p]
        if first.untyped_storage().data_ptr() != self._x:  # x itself, or a view of it
            kept.append(first)
        return sum(t.numel() * t.element_size() for t in kept)

    def _back(self, kind, name, m, g):
        """g through a parameter-free layer, backward."""
        if kind == "relu":
            return g * self.masks[name]
        if kind == "pool":
            return F.max_unpool2d(
                g, self.pools[name], m.kernel_size, m.stride, output_size=self.shapes[name][-2:]
            )
        return g.reshape(self.shapes[name])

    @torch.no_grad()
    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        vs = unflatten(v, self.params)
        out = torch.empty_like(v)
        hs = unflatten(out, self.params)
        ra, ras = None, {}  # R{a} = 0 at the input: it does not depend on the weights
        for kind, name, m in self.ops:
            if kind in ("conv", "linear"):
                ras[name] = ra
                rz = self._affine(m, name, self.inputs[name], vs)
                if ra is not None:
                    rz += self._affine(m, name, ra, self.params, bias=False)
                ra = rz
            elif ra is None:
                continue  # a parameter-free layer before the first weighted one
            elif kind == "relu":
                ra = ra.mul_(self.masks[name])
            elif kind == "pool":
                idx = self.pools[name]
                ra = ra.flatten(2).gather(2, idx.flatten(2)).view_as(idx)
            else:
                ra = ra.flatten(m.start_dim, m.end_dim)
        p = self.p
        rg = (p * ra).sub_(p * (p * ra).sum(1, keepdim=True)).div_(self.n)
        g = self.g_out
        for kind, name, m in reversed(self.ops):
            if kind not in ("conv", "linear"):
                rg, g = self._back(kind, name, m, rg), self._back(kind, name, m, g)
                continue
            kw, kb = self.keys[name]
            a, r_a = self.inputs[name], ras[name]
            gi, gw = _grads(m, rg, a, self.params[kw], r_a is not None, True)
            hs[kw].copy_(gw)
            if kb is not None:
                torch.sum(rg, [d for d in range(rg.dim()) if d != 1], out=hs[kb])
            if r_a is None:
                break
            gi2, gw2 = _grads(m, g, r_a, vs[kw], True, True)
            hs[kw].add_(gw2)
            rg, g = gi.add_(gi2), self.g_in[name]
        return out


def _grads(m, g, a, w, need_input: bool, need_weight: bool):
    """(dL/da, dL/dW) of an affine layer m for output gradient g, input a and weight w."""
    if isinstance(m, nn.Linear):
        return (g @ w if need_input else None), (g.T @ a if need_weight else None)
    gi, gw, _ = _conv_backward(
        g, a, w, None, m.stride, m.padding, m.dilation, False, [0, 0], m.groups,
        [need_input, need_weight, False],
    )  # fmt: skip
    return gi, gw
