"""Multi-format QAT (MF-QAT): the per-step format recipe and MXINT8/MXFP8 anchor checkpoints."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

import mxemu as mx
from mxemu.array import MXArray
from mxemu.conversion import convert
from mxemu.errors import FileFormatError, InputError, MXError
from mxemu.io import atomic_write, format_definition, safetensors_bytes
from mxemu.policy import Policy
from mxemu.spec import MXFormat
from mxemu.torch.functional import TORCH_DTYPES, from_numpy, to_numpy
from mxemu.torch.nn import EXTRA_STATE, KEEP, MXModule, _mx_name, apply_configs, mx_layers, set_format

RULES = ("sample", "sum")
ANCHOR_SCHEMA = "2"
ANCHOR_FORMATS = ("mxint8", "mxfp8_e4m3")
ANCHOR_KEYS = ("mxemu_anchor_schema", "mxemu_version", "format", "format_definition", "policy", "quantized",
               "aliases", "layers", "tensors_sha256", "metadata_sha256")
SEP = "::"  # quantized tensor P is stored as P::codes and P::scales


Pair = tuple[str | None, str | None]  # (weight format, activation format) of one training format


def _entry(f: object) -> str | Pair:
    """A format-set entry: an MX format name (weights only), or a (weight, activation) pair of names or None."""
    if isinstance(f, tuple):
        if len(f) != 2:
            raise InputError(f"a (weight, activation) format pair has 2 entries, got {f!r}")
        return (_mx_name(f[0], "a pair's weight format", optional=True),
                _mx_name(f[1], "a pair's activation format", optional=True))
    return _mx_name(f, "each format")  # type: ignore[return-value]


def _default_anchor(weight_formats: Sequence[str | None]) -> str:
    """MXFP8-E4M3 when every weight format is an MXFP format (Slice-and-Scale reaches them from it), else MXINT8."""
    named = [f for f in weight_formats if f is not None]
    fp = named and all(not mx.get_format(f).element.is_int for f in named)  # type: ignore[union-attr]
    return "mxfp8_e4m3" if fp else "mxint8"


class MFQATRecipe:
    """Which format(s) each training step uses in multi-format QAT (docs/torch.md, METHODS.md).

    A format of `formats` is an MX format name (the weights; activations as the layers have them) or
    a `(weight format, activation format)` pair (either may be None: float). `input_formats`, a
    second list, makes the activation format independent of the weight format: the recipe trains
    the product of the two sets, with weights `weights[i] * input_weights[j]` (so the `sample` rule
    draws the weight and the activation format independently).

    `rule="sample"`: one format per step, drawn with probabilities `weights` (uniform by default)
    by a generator seeded with (seed, step), so step n draws the same format on every run and after
    a resume. `rule="sum"`: every format each step, loss Σ λ_f L(Q_f) with λ = `weights` (all 1 by
    default). `slice_aware=True`: the weights of every MX layer are quantized in `anchor` and
    converted to the step's format by Slice-and-Scale (`slice_fake_quantize`), the numerics an
    anchor checkpoint loaded at that format runs; activations stay directly cast. `anchor` defaults
    to MXFP8-E4M3 when every weight format is MXFP, else MXINT8.

    >>> recipe = MFQATRecipe(["mxint8", "mxint4"], rule="sum", weights=[1.0, 0.5])
    >>> recipe.formats_for_step(0)
    [('mxint8', 1.0), ('mxint4', 0.5)]
    >>> len(MFQATRecipe(["mxint8", "mxint4"], seed=1).formats_for_step(7))
    1
    >>> MFQATRecipe(["mxint8", "mxint4"], input_formats=["mxint8"], rule="sum").formats_for_step(0)
    [(('mxint8', 'mxint8'), 1.0), (('mxint4', 'mxint8'), 1.0)]
    """

    def __init__(self, formats: Sequence[str | MXFormat | tuple], rule: str = "sample",
                 weights: Sequence[float] | None = None, seed: int = 0, slice_aware: bool = False,
                 anchor: str | MXFormat | None = None, input_formats: Sequence[str | MXFormat | None] | None = None,
                 input_weights: Sequence[float] | None = None) -> None:
        if isinstance(formats, str) or not isinstance(formats, Sequence) or not formats:
            raise InputError(f"formats must be a non-empty sequence of MX format names or (weight, activation) "
                             f"pairs, got {formats!r}")
        entries = [_entry(f) for f in formats]
        if len(set(entries)) != len(entries):
            raise InputError(f"formats holds a format twice: {entries}")
        if rule not in RULES:
            raise InputError(f"rule must be one of {', '.join(repr(r) for r in RULES)}, got {rule!r}")
        self.rule = rule
        w = _weights(weights, len(entries), "weights")
        if input_formats is not None:
            if any(isinstance(e, tuple) for e in entries):
                raise InputError("formats holds (weight, activation) pairs: pass input_formats only with weight "
                                 "formats")
            if isinstance(input_formats, str) or not isinstance(input_formats, Sequence) or not input_formats:
                raise InputError(f"input_formats must be a non-empty sequence of MX format names or None, "
                                 f"got {input_formats!r}")
            acts = [_mx_name(f, "each input format", optional=True) for f in input_formats]
            if len(set(acts)) != len(acts):
                raise InputError(f"input_formats holds a format twice: {acts}")
            wa = _weights(input_weights, len(acts), "input_weights")
            entries, w = ([(e, a) for e in entries for a in acts],  # type: ignore[misc]
                          [x * y for x in w for y in wa])
        elif input_weights is not None:
            raise InputError("input_weights needs input_formats")
        self.formats: list[str | Pair] = entries
        self.weights = w
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
            raise InputError(f"seed must be a non-negative integer, got {seed!r}")
        self.seed = int(seed)
        if not isinstance(slice_aware, bool):
            raise InputError(f"slice_aware must be True or False, got {slice_aware!r}")
        self.slice_aware = slice_aware
        weight_formats = [e[0] if isinstance(e, tuple) else e for e in entries]
        self.anchor = _default_anchor(weight_formats) if anchor is None else _mx_name(anchor, "anchor")
        if self.anchor not in ANCHOR_FORMATS:
            raise InputError(f"anchor must be one of {', '.join(ANCHOR_FORMATS)}, got {self.anchor!r}")
        if slice_aware:
            probe = mx.quantize(np.zeros(mx.get_format(self.anchor).block_size, np.float32), self.anchor)
            for f in weight_formats:
                if f is not None and f != self.anchor:
                    convert(probe, f, "slice_and_scale")  # raises InputError for a pair Slice-and-Scale lacks

    def __repr__(self) -> str:
        return (f"MFQATRecipe(formats={self.formats}, rule={self.rule!r}, weights={self.weights}, seed={self.seed}, "
                f"slice_aware={self.slice_aware}, anchor={self.anchor!r})")

    def formats_for_step(self, step: int) -> list[tuple[str | Pair, float]]:
        """The (format, loss weight) pairs of training step `step` (sample: one pair of weight 1)."""
        if not isinstance(step, (int, np.integer)) or isinstance(step, bool) or step < 0:
            raise InputError(f"step must be a non-negative integer, got {step!r}")
        if self.rule == "sum":
            return list(zip(self.formats, self.weights, strict=True))
        p = np.array(self.weights) / sum(self.weights)
        i = int(np.random.default_rng([self.seed, int(step)]).choice(len(self.formats), p=p))
        return [(self.formats[i], 1.0)]

    def loss(self, model: nn.Module, step: int, compute_loss: Callable[[], torch.Tensor]) -> torch.Tensor:
        """Σ weight · compute_loss() over the step's formats, each run with the model's MX layers in that
        format (`use_format`: the weight format, and the activation format of a pair; weights sliced
        from the anchor when slice-aware); call `.backward()` on the result.

        >>> from mxemu.torch import MXLinear
        >>> model = torch.nn.Sequential(MXLinear(32, 2))
        >>> x = torch.randn(4, 32)
        >>> recipe = MFQATRecipe(["mxint8", "mxint4"], rule="sum")
        >>> recipe.loss(model, 0, lambda: model(x).square().mean()).backward()
        """
        from mxemu.torch.nn import KEEP, use_format

        layers = mx_layers(model)
        anchors = [m.weight_anchor for m in layers]
        total: torch.Tensor | None = None
        try:
            for m in layers:
                m.weight_anchor = self.anchor if self.slice_aware else None
            for fmt, w in self.formats_for_step(step):
                weight, act = fmt if isinstance(fmt, tuple) else (fmt, KEEP)
                with use_format(model, weight, input_format=act):
                    term = compute_loss() * w
                total = term if total is None else total + term
        finally:
            for m, a in zip(layers, anchors, strict=True):
                m.weight_anchor = a
        assert total is not None
        return total


def _weights(weights: object, n: int, what: str) -> list[float]:
    if weights is None:
        return [1.0] * n
    w = [float(v) for v in weights] if isinstance(weights, Sequence) and not isinstance(weights, str) else None
    if w is None or len(w) != n or not all(np.isfinite(v) and v >= 0 for v in w) or sum(w) <= 0:
        raise InputError(f"{what} must be {n} finite non-negative numbers, not all zero; got {weights!r}")
    return w


def _quantized_names(model: nn.Module) -> dict[str, int]:
    """The block axis of every weight an anchor stores quantized, by its state_dict name (the first name
    of a tied weight): the weights of the MX layers and of plain nn.Linear layers. A weight also held by
    another kind of module (an output head tied to a float embedding) stays float: quantizing it for
    one consumer would change it for the other."""
    axes: dict[int, set[int]] = {}
    names: dict[int, str] = {}
    for name, m in model.named_modules(remove_duplicate=False):
        for pname, p in m._parameters.items():
            if p is None:
                continue
            key = f"{name}.{pname}" if name else pname
            names.setdefault(id(p), key)
            if pname == "weight" and isinstance(m, (MXModule, nn.Linear)):
                axis = m.WEIGHT_AXIS if isinstance(m, MXModule) else -1
                axes.setdefault(id(p), set()).add(axis % p.ndim)
            else:
                axes.setdefault(id(p), set()).add(-1)  # a float consumer, or a bias
    return {names[i]: next(iter(a)) for i, a in axes.items() if len(a) == 1 and -1 not in a}


def _aliases(model: nn.Module) -> dict[str, str]:
    """Every state_dict name of a tied Parameter or buffer after its first -> that first name."""
    first: dict[int, str] = {}
    out = {}
    for name, m in model.named_modules(remove_duplicate=False):
        for tname, t in [*m._parameters.items(), *m._buffers.items()]:
            if t is None:
                continue
            key = f"{name}.{tname}" if name else tname
            if id(t) in first:
                out[key] = first[id(t)]
            else:
                first[id(t)] = key
    return out


def _settings_keys(model: nn.Module) -> set[str]:
    """The state_dict names of the MX layers' settings (`<layer>._extra_state`; the anchor keeps them in
    its metadata)."""
    return {f"{n}{EXTRA_STATE}" if n else EXTRA_STATE[1:] for n, m in model.named_modules() if isinstance(m, MXModule)}


def _tensor_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The state_dict's tensors, the MX layers' settings left out."""
    skip = _settings_keys(model)
    return {k: v for k, v in model.state_dict(keep_vars=True).items() if k not in skip}


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _sha(t: torch.Tensor) -> str:
    return hashlib.sha256(t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()).hexdigest()


def _safetensors() -> Any:
    try:
        import safetensors
        import safetensors.torch
    except ImportError:
        raise InputError("anchor checkpoints need the `safetensors` package (pip install safetensors)") from None
    return safetensors


def save_anchor(model: nn.Module, path: str | os.PathLike, fmt: str = "mxint8",
                policy: str | Policy | None = None) -> Path:
    """Write `model` as an MF-QAT anchor checkpoint (.safetensors, atomically; no pickle).

    The weight of every MX layer and plain nn.Linear is quantized in `fmt` (blocks along the layer's
    reduction dimension: in_features, Conv1D's rows, a convolution's input channels, an embedding's
    dimension) and stored as its element codes `<name>::codes` and E8M0 scales `<name>::scales`;
    every other state_dict tensor is stored as is. A tensor held under several names (tied weights)
    is stored once, under its first name; a weight also held by a module that does not quantize it
    stays float. Metadata: format name and definition, policy, the quantized tensors' shapes, dtypes
    and block axes, the tied names, every MX layer's settings (weight, activation and gradient
    formats and policies), SHA-256 of every tensor and of the metadata.

    >>> import tempfile, pathlib
    >>> model = torch.nn.Sequential(torch.nn.Linear(32, 4))
    >>> p = save_anchor(model, pathlib.Path(tempfile.mkdtemp()) / "anchor.safetensors")
    >>> p.suffix
    '.safetensors'
    """
    if not isinstance(model, nn.Module):
        raise InputError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    path = Path(path)
    if path.suffix.lower() != ".safetensors":
        raise InputError(f"{path}: anchor checkpoints are .safetensors files")
    name = _mx_name(fmt, "fmt")
    if name not in ANCHOR_FORMATS:
        raise InputError(f"anchor format must be one of {', '.join(ANCHOR_FORMATS)}, got {name!r}")
    f = mx.get_format(name)
    pol = mx.get_policy(policy)
    qnames = _quantized_names(model)
    aliases = _aliases(model)
    tensors: dict[str, torch.Tensor] = {}
    quantized: dict[str, dict[str, Any]] = {}
    for key, value in _tensor_state(model).items():
        if SEP in key:
            raise InputError(f"state_dict key {key!r} contains {SEP!r}, which anchor files reserve")
        if key in aliases:
            continue  # a tied tensor is stored once, under its first name
        value = value.detach()
        if key in qnames:
            q = mx.quantize(to_numpy(value), f, qnames[key], pol)
            tensors[f"{key}{SEP}codes"] = torch.from_numpy(q.codes)
            tensors[f"{key}{SEP}scales"] = torch.from_numpy(q.scales)
            quantized[key] = {"shape": list(q.shape), "dtype": TORCH_DTYPES[value.dtype], "axis": qnames[key]}
        else:
            tensors[key] = value.clone().contiguous()
    layers = {n: m.quant_config() for n, m in model.named_modules() if isinstance(m, MXModule)}
    meta = {
        "mxemu_anchor_schema": ANCHOR_SCHEMA,
        "mxemu_version": mx.__version__,
        "format": f.name,
        "format_definition": _canonical(format_definition(f)),
        "policy": _canonical(pol.as_dict()),
        "quantized": _canonical(quantized),
        "aliases": _canonical(aliases),
        "layers": _canonical(layers),
        "tensors_sha256": _canonical({k: _sha(t) for k, t in tensors.items()}),
    }
    meta["metadata_sha256"] = hashlib.sha256(_canonical(meta).encode()).hexdigest()
    data = safetensors_bytes({k: to_numpy(t) for k, t in tensors.items()}, meta)
    return atomic_write(path, lambda fh: fh.write(data))


def _read(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    st = _safetensors()
    try:
        with st.safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 (safe_open has no __iter__)
    except (MXError, MemoryError):
        raise
    except Exception as exc:
        raise FileFormatError(f"{path}: cannot read as .safetensors ({type(exc).__name__}: {exc})") from None
    return tensors, meta


def _json(meta: dict[str, str], key: str) -> Any:
    try:
        return json.loads(meta[key])
    except (json.JSONDecodeError, TypeError) as exc:
        raise FileFormatError(f"metadata '{key}' is not valid JSON ({exc})") from None


def _check_anchor(tensors: dict[str, torch.Tensor],
                  meta: dict[str, str]) -> tuple[MXFormat, Policy, dict, dict[str, str], dict[str, dict]]:
    missing = [k for k in ANCHOR_KEYS if k not in meta]
    if missing:
        raise FileFormatError(f"metadata is missing {missing} (not an anchor written by save_anchor?)")
    body = {k: v for k, v in meta.items() if k != "metadata_sha256"}
    if hashlib.sha256(_canonical(body).encode()).hexdigest() != meta["metadata_sha256"]:
        raise FileFormatError("metadata checksum mismatch: the metadata is corrupt or was edited")
    if meta["mxemu_anchor_schema"] != ANCHOR_SCHEMA:
        raise FileFormatError(f"anchor schema {meta['mxemu_anchor_schema']!r} is not supported "
                              f"(this mxemu reads {ANCHOR_SCHEMA})")
    try:
        f = mx.get_format(meta["format"])
    except MXError:
        raise FileFormatError(f"unknown anchor format {meta['format']!r}") from None
    if not isinstance(f, MXFormat) or _json(meta, "format_definition") != format_definition(f):
        raise FileFormatError(f"the file's definition of {meta['format']!r} differs from the registered one")
    try:
        pol = Policy.from_dict(_json(meta, "policy"))
    except MXError as exc:
        raise FileFormatError(f"metadata 'policy': {exc}") from None
    sums = _json(meta, "tensors_sha256")
    if not isinstance(sums, dict) or set(sums) != set(tensors):
        raise FileFormatError(f"the file holds tensors {sorted(tensors)} but its metadata lists "
                              f"{sorted(sums) if isinstance(sums, dict) else sums!r}")
    for k, t in tensors.items():
        if _sha(t) != sums[k]:
            raise FileFormatError(f"tensor {k!r} checksum mismatch: its data is corrupt")
    quantized = _json(meta, "quantized")
    if not isinstance(quantized, dict):
        raise FileFormatError("metadata 'quantized' must be a JSON object")
    plain = {k for k in tensors if SEP not in k}
    expected = plain | {f"{k}{SEP}{part}" for k in quantized for part in ("codes", "scales")}
    if set(tensors) != expected or plain & set(quantized):
        raise FileFormatError(f"the tensors {sorted(tensors)} do not match the quantized names {sorted(quantized)} "
                              f"(each needs '<name>{SEP}codes' and '<name>{SEP}scales' and no float copy)")
    aliases, layers = _json(meta, "aliases"), _json(meta, "layers")
    if not isinstance(aliases, dict) or not all(isinstance(v, str) and v in plain | set(quantized)
                                                for v in aliases.values()) or set(aliases) & (plain | set(quantized)):
        raise FileFormatError("metadata 'aliases' must map tied names to stored ones")
    if not isinstance(layers, dict) or not all(isinstance(v, dict) for v in layers.values()):
        raise FileFormatError("metadata 'layers' must map layer names to their settings")
    return f, pol, quantized, aliases, layers


def _runtime(q: MXArray, target: str) -> MXArray:
    if target == q.format.name:
        return q
    return convert(q, target, method="slice_and_scale")


def load_anchor(model: nn.Module, path: str | os.PathLike, runtime_format: str | MXFormat | None = None,
                input_format: str | MXFormat | None = KEEP) -> dict[str, MXArray]:
    """Load an anchor checkpoint into `model` (in place) at `runtime_format` (default: the anchor's).

    The MX layers the anchor records get back their settings (activation and gradient formats and
    policies); a float layer of `model` in their place is converted first, as `quantize_model` does.
    Each quantized weight is converted from the anchor format by `mxemu.convert(...,
    method="slice_and_scale")` and its dequantized values, in the model's dtype (float32, bfloat16,
    float16, float64), written into the existing Parameter; other entries are copied as stored (tied
    names from their one stored copy; float tensors cast to the model's dtype). Every MX layer's
    weight format becomes `runtime_format`; `input_format`, when given, sets every activation format
    (None: float activations). Returns the runtime MXArrays by state_dict name. A corrupt file, or one
    that does not match the model's state_dict (names, shapes), raises `FileFormatError`.

    >>> import tempfile, pathlib
    >>> model = torch.nn.Sequential(torch.nn.Linear(32, 4))
    >>> p = save_anchor(model, pathlib.Path(tempfile.mkdtemp()) / "anchor.safetensors")
    >>> sorted(load_anchor(model, p))
    ['0.weight']
    """
    if not isinstance(model, nn.Module):
        raise InputError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    path = Path(path)
    tensors, meta = _read(path)
    try:
        f, pol, quantized, aliases, layers = _check_anchor(tensors, meta)
    except FileFormatError as exc:
        raise FileFormatError(f"{path}: {exc}") from None
    target = f.name if runtime_format is None else _mx_name(runtime_format, "runtime_format")
    act = KEEP if input_format is KEEP else _mx_name(input_format, "input_format", optional=True)
    try:
        apply_configs(model, layers)
    except InputError as exc:
        raise FileFormatError(f"{path}: the checkpoint does not match the model: its layer settings: {exc}") from None
    state = _tensor_state(model)
    stored = {k.split(SEP)[0] for k in tensors} | set(aliases)
    qnames = _quantized_names(model)
    if stored != set(state) or set(quantized) != set(qnames) or aliases != _aliases(model):
        raise FileFormatError(f"{path}: the checkpoint does not match the model: missing "
                              f"{sorted(set(state) - stored)}, unexpected {sorted(stored - set(state))}, "
                              f"quantized {sorted(quantized)} vs the model's quantized weights {sorted(qnames)}, "
                              f"tied {aliases} vs the model's {_aliases(model)}")
    new_state: dict[str, torch.Tensor] = {}
    arrays: dict[str, MXArray] = {}
    for key, ref in state.items():
        if key in aliases:
            continue
        if key not in quantized:
            t = tensors[key]
            recast = t.is_floating_point() and ref.is_floating_point()  # an anchor serves any float dtype
            if t.shape != ref.shape or (t.dtype != ref.dtype and not recast):
                raise FileFormatError(f"{path}: tensor {key!r} is {t.dtype} {tuple(t.shape)}; "
                                      f"the model has {ref.dtype} {tuple(ref.shape)}")
            new_state[key] = t.to(ref.dtype)
            continue
        codes, scales = tensors[f"{key}{SEP}codes"], tensors[f"{key}{SEP}scales"]
        info = quantized[key]
        if not isinstance(info, dict) or info.get("shape") != list(ref.shape) or info.get("axis") != qnames[key] or \
                info.get("dtype") not in TORCH_DTYPES.values() or tuple(codes.shape) != tuple(ref.shape) or \
                codes.dtype != torch.uint8 or scales.dtype != torch.uint8:
            raise FileFormatError(f"{path}: quantized tensor {key!r} ({info!r}, codes {codes.dtype} "
                                  f"{tuple(codes.shape)}) does not match the model's {ref.dtype} {tuple(ref.shape)}, "
                                  f"blocks along axis {qnames[key]}")
        q = MXArray(codes=codes.numpy(), scales=scales.numpy(), format=f, policy=pol, axis=(qnames[key],))
        try:
            from mxemu.array import check_array

            check_array(q)
        except MXError as exc:
            raise FileFormatError(f"{path}: quantized tensor {key!r}: {exc}") from None
        if q.codes.size and int(q.codes.max()) >= f.element.num_codes:
            raise FileFormatError(f"{path}: quantized tensor {key!r} holds codes outside [0, {f.element.num_codes})")
        arrays[key] = _runtime(q, target)
        new_state[key] = from_numpy(arrays[key].dequantize(to_numpy(ref).dtype))
    for alias, first in aliases.items():
        new_state[alias] = new_state[first]
    settings = _settings_keys(model)
    extra = {k: v for k, v in model.state_dict().items() if k in settings}
    model.load_state_dict({**new_state, **extra}, strict=True)
    if mx_layers(model):
        set_format(model, target, input_format=act)
    return arrays
