#pragma once
/// Matrix products through BLAS, and the linear layer built on them.
///
/// Transposes are never materialised: matmul hands them to gemm as flags, in
/// the forward and in the backward.

#include "tapegrad/autodiff/var.hpp"

namespace tg {

/// op(a) @ op(b), where op transposes the last two dims when its flag is set
/// (matmul(x, w, false, true) is x @ w^T with w stored [N, K]). Supported:
///   [M, K] x [K, N]       -> [M, N]
///   [B, M, K] x [B, K, N] -> [B, M, N]; a batch size of 1 broadcasts
///   [B, M, K] x [K, N]    -> [B, M, N] (one gemm over [B*M, K] when !transpose_a)
/// (shapes shown after op). Throws ShapeError for other ranks or mismatched
/// sizes and DTypeError for mixed dtypes, naming both shapes and the flags.
/// Zero sizes work; K = 0 gives zeros.
Var matmul(const Var& a, const Var& b, bool transpose_a = false, bool transpose_b = false);

/// c + op(a) @ op(b) for matrices a and b (PyTorch's addmm with beta = alpha = 1),
/// c [M, N] or a row [N] added to every row. One op: the gemm adds onto a copy
/// of c, so a recurrent step's x_t + h W^T costs no temporary and no add node.
/// Throws ShapeError naming all three shapes when they do not fit.
Var addmm(const Var& c, const Var& a, const Var& b, bool transpose_a = false, bool transpose_b = false);

/// x @ weight^T + bias, in PyTorch's layout: x [..., in] of rank 2 or 3,
/// weight [out, in], bias [out]. One op with its own backward (one gemm per gradient).
Var linear(const Var& x, const Var& weight, const Var& bias);
/// x @ weight^T.
Var linear(const Var& x, const Var& weight);

/// x1 @ w1^T + x2 @ w2^T + b1 + b2 for matrices x1 [R, in1], x2 [R, in2] and
/// weights [out, in1], [out, in2]: an LSTM cell's gate pre-activations (x W_ih^T
/// + b_ih + h W_hh^T + b_hh, PyTorch's layout) as one op, where linear, matmul
/// and two adds would be four. Either bias may be undefined (Var()).
Var linear_pair(const Var& x1, const Var& w1, const Var& x2, const Var& w2, const Var& b1 = Var(),
                const Var& b2 = Var());

}  // namespace tg
