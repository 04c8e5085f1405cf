"""SMPL's blend shapes and linear blend skinning for one model file, laid out for batched speed.

The maths is SMPL's (Loper et al. 2015, eq. 1-4) and smplx's: v_posed = template + shape and pose blend shapes, then
each vertex moves by the weighted sum of its joints' rigid transforms. smplx supplies the Rodrigues formula and the
kinematic chain (``batch_rodrigues``, ``batch_rigid_transform``). The two bulk steps are ours, because smplx's
layout is slow on the CPU where synthesis tests and small runs happen: it forms a 4x4 matrix per vertex and applies
it with a batched matmul of B*V tiny products. Here

* shape and pose blend shapes are one GEMM, (B, 10 + 207) @ (10 + 207, 3V), on a basis stored channels-first, so
  v_posed comes out as (B, 3, V): x, y and z each a contiguous row of V values;
* the per-vertex transforms are one GEMM, (B*12, 24) @ (24, V), and skinning is three fused multiply-adds over those
  contiguous rows; on CPU this runs in blocks of vertices so the transforms stay in cache instead of making an
  85 MB round trip through memory at batch 256.

Measured at batch 256 on this project's 2-core CPU (``scripts/bench/bench_smpl.py``): 2.4-2.7x faster than
``smplx.SMPL``; the vertices equal smplx's to float32 rounding (tests/body/test_skinning.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from smplx.lbs import batch_rigid_transform, batch_rodrigues
from torch import nn

NUM_POSE_BASIS = 23 * 9  # (R_j - I) of the 23 non-root joints, flattened
# Skinning transforms held at once on CPU: 2^21 floats (8 MiB in float32) fit the L3 cache of a small machine and
# are large enough that per-block overhead is negligible (measured blocks of 128-1024 vertices at batch 256 all
# within 5% of each other, one 85 MB block 40% slower).
_CPU_BLOCK_ELEMENTS = 1 << 21
# On a GPU one block is fastest (fewer kernel launches); the cap only bounds the transforms' memory (512 MiB) for
# very large batches.
_GPU_BLOCK_ELEMENTS = 1 << 27


class _KinematicTree:
    """SMPL's parents as smplx's ``batch_rigid_transform`` reads them: a slice is the buffer on the model's device
    (one gather of parent joints), a single entry a Python int. smplx's loop over the 23 joints indexes its list of
    transforms with ``parents[i]``; from a CUDA tensor each of those would wait for the GPU to hand over one scalar."""

    def __init__(self, parents: torch.Tensor, as_list: list[int]) -> None:
        self.tensor, self.list, self.shape = parents, as_list, parents.shape

    def __getitem__(self, index: int | slice) -> int | torch.Tensor:
        return self.tensor[index] if isinstance(index, slice) else self.list[index]


class SmplSkinning(nn.Module):
    """One SMPL model (one gender): (B, 72) axis-angle pose and (B, num_betas) shape -> vertices and joints.

    Buffers are made in ``dtype`` from the file's float64 arrays and follow ``.to(device)``; forward runs in the
    dtype of the buffers.
    """

    def __init__(self, data: dict[str, Any], num_betas: int = 10, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        template = np.asarray(data["v_template"], dtype=np.float64)  # (V, 3)
        shapedirs = np.asarray(data["shapedirs"], dtype=np.float64)[:, :, :num_betas]  # (V, 3, num_betas)
        if shapedirs.shape[2] != num_betas:
            raise ValueError(f"the model has {shapedirs.shape[2]} shape components, num_betas={num_betas} asked")
        posedirs = np.asarray(data["posedirs"], dtype=np.float64)  # (V, 3, 207)
        regressor = data["J_regressor"]
        regressor = np.asarray(regressor.toarray() if sp.issparse(regressor) else regressor, dtype=np.float64)
        n = template.shape[0]
        # Blend basis channels-first: column c * V + v holds coordinate c of vertex v.
        basis = np.concatenate([shapedirs, posedirs], axis=2).transpose(2, 1, 0).reshape(-1, 3 * n)
        parents = np.asarray(data["kintree_table"])[0].astype(np.int64)
        parents[0] = -1
        real = lambda a: torch.as_tensor(a, dtype=dtype)  # noqa: E731
        self.num_betas = num_betas
        self.register_buffer("v_template", real(template), persistent=False)  # (V, 3)
        self.register_buffer("template_cf", real(template.T.reshape(1, -1)), persistent=False)  # (1, 3V)
        self.register_buffer("basis_cf", real(basis), persistent=False)  # (num_betas + 207, 3V)
        self.register_buffer("J_regressor", real(regressor), persistent=False)  # (24, V)
        # Rest joints are linear in the shape: J = J_reg @ template + (J_reg @ shapedirs) betas, no (B, V) pass.
        self.register_buffer("joint_template", real(regressor @ template), persistent=False)  # (24, 3)
        self.register_buffer("joint_shapedirs", real(np.einsum("jv,vcl->jcl", regressor, shapedirs)), persistent=False)
        self.register_buffer("weights_t", real(np.asarray(data["weights"], dtype=np.float64).T), persistent=False)
        self.register_buffer("parents", torch.from_numpy(parents), persistent=False)  # (24,)
        self.parent_list = parents.tolist()  # the same on the host, for the kinematic loop
        self.register_buffer("faces", torch.as_tensor(np.asarray(data["f"], dtype=np.int64)), persistent=False)

    def model_arrays(self) -> dict[str, np.ndarray]:
        """This model in SMPL file layout (the keys :func:`mpt.body.smpl_file.load_smpl_file` returns), float64:
        for ``smplx.SMPL(data_struct=...)`` as an independent reference, or for saving."""
        n, nb = self.v_template.shape[0], self.num_betas
        dirs = self.basis_cf.double().cpu().view(-1, 3, n).permute(2, 1, 0).numpy()  # (V, 3, num_betas + 207)
        parents = self.parents.cpu().numpy().copy()
        return {
            "v_template": self.v_template.double().cpu().numpy(), "shapedirs": dirs[:, :, :nb],
            "posedirs": dirs[:, :, nb:], "J_regressor": self.J_regressor.double().cpu().numpy(),
            "weights": self.weights_t.double().cpu().numpy().T, "f": self.faces.cpu().numpy(),
            "kintree_table": np.stack([parents, np.arange(len(parents))]),
        }  # fmt: skip

    def forward(
        self, pose: torch.Tensor, betas: torch.Tensor, transl: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 72), (B, num_betas), optional (B, 3) -> vertices (B, V, 3), joints (B, 24, 3).

        The vertices are a (B, V, 3) view of a contiguous (B, 3, V) tensor (call ``.contiguous()`` before
        ``.view``); ``vertices.transpose(1, 2)`` is contiguous channels-first for GEMMs downstream.
        """
        dtype = self.basis_cf.dtype
        pose, betas = pose.to(dtype), betas.to(dtype)
        b, n = pose.shape[0], self.v_template.shape[0]
        rot = batch_rodrigues(pose.reshape(-1, 3)).view(b, -1, 3, 3)  # (B, 24, 3, 3)
        eye = torch.eye(3, dtype=dtype, device=pose.device)
        coeff = torch.cat([betas, (rot[:, 1:] - eye).reshape(b, NUM_POSE_BASIS)], dim=1)  # (B, num_betas + 207)
        v_posed = torch.addmm(self.template_cf, coeff, self.basis_cf).view(b, 3, n)  # (B, 3, V)
        rest = self.joint_template + torch.einsum("jcl,bl->bjc", self.joint_shapedirs, betas)  # (B, 24, 3)
        tree = _KinematicTree(self.parents, self.parent_list)
        joints, rel = batch_rigid_transform(rot, rest, tree, dtype=dtype)  # (B, 24, 3), (B, 24, 4, 4)
        # (B*12, 24) rows: coefficient (c, k) of the 3x4 transform [R | t] of each joint
        rows = rel[:, :, :3, :].reshape(b, -1, 12).transpose(1, 2).reshape(b * 12, -1)
        budget = _GPU_BLOCK_ELEMENTS if pose.is_cuda else _CPU_BLOCK_ELEMENTS
        step = max(128, budget // (12 * b))
        verts = torch.empty(b, 3, n, dtype=dtype, device=pose.device)
        shift = None if transl is None else transl.to(dtype).unsqueeze(-1)  # (B, 3, 1)
        for s in range(0, n, step):
            e = min(s + step, n)
            t = (rows @ self.weights_t[:, s:e]).view(b, 3, 4, e - s)  # blended [R | t] per vertex, channels-first
            p = v_posed[:, :, s:e]
            # out-of-place first so autograd keeps t and p intact; then in place on the fresh block
            block = torch.addcmul(t[:, :, 3], t[:, :, 0], p[:, 0:1])
            block.addcmul_(t[:, :, 1], p[:, 1:2]).addcmul_(t[:, :, 2], p[:, 2:3])
            if shift is not None:
                block.add_(shift)
            verts[:, :, s:e] = block
        if transl is not None:
            joints = joints + transl.to(dtype).unsqueeze(1)
        return verts.transpose(1, 2), joints
