"""Files written before a policy field existed still load, with the field's default; files never omit others."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy

import mxemu as mx
from mxemu.array import load, save
from mxemu.errors import FileFormatError
from mxemu.io import _canonical, safetensors_bytes
from mxemu.policy import LATER_FIELDS, Policy


def _rewrite_policy(path: Path, drop: tuple[str, ...]) -> None:
    """Rewrite a .safetensors file as an older writer would have: the policy without the fields `drop`."""
    tensors = safetensors.numpy.load_file(str(path))
    with safetensors.safe_open(str(path), "np") as f:
        meta = dict(f.metadata())
    policy = json.loads(meta["policy"])
    for field in drop:
        del policy[field]
    meta["policy"] = _canonical(policy)
    del meta["metadata_sha256"]
    meta["metadata_sha256"] = hashlib.sha256(_canonical(meta).encode()).hexdigest()
    path.write_bytes(safetensors_bytes(tensors, meta))


def test_a_file_without_the_later_policy_fields_loads_with_their_defaults(tmp_path: Path) -> None:
    x = np.linspace(-3, 3, 64, dtype=np.float32)
    q = mx.quantize(x, "mxfp8_e5m2", policy="torchao")
    path = save(q, tmp_path / "old.safetensors")
    _rewrite_policy(path, LATER_FIELDS)
    r = load(path)
    defaults = Policy()
    assert all(getattr(r.policy, f) == getattr(defaults, f) for f in LATER_FIELDS)
    assert r.policy == q.policy
    np.testing.assert_array_equal(r.codes, q.codes)
    np.testing.assert_array_equal(r.scales, q.scales)


def test_a_file_missing_an_original_policy_field_is_refused(tmp_path: Path) -> None:
    q = mx.quantize(np.ones(32, np.float32), "mxfp4_e2m1")
    path = save(q, tmp_path / "bad.safetensors")
    _rewrite_policy(path, ("rounding",))
    with pytest.raises(FileFormatError, match="may be missing in older files"):
        load(path)
