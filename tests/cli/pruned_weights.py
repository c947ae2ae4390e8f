#!/usr/bin/python3
"""The pruned weights of tapegrad checkpoints, for tests/cli/check_prune.sh.

  pruned_weights.py A.safetensors             prints the fraction of zeros in the weights of
                                              products (matrices, embeddings left out)
  pruned_weights.py A.safetensors B.safetensors   exits 1 unless every such zero of A is zero in B
"""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tools" / "fixtures"))
from safetensors_common import read_safetensors  # noqa: E402


def weights(path):
    tensors, _ = read_safetensors(path)
    return {n: t for n, t in tensors.items() if t.dim() == 2 and "embedding" not in n and "/" not in n}


a = weights(sys.argv[1])
if len(sys.argv) == 2:
    zeros = sum(int((t == 0).sum()) for t in a.values())
    total = sum(t.numel() for t in a.values())
    print(f"{zeros / total:.4f}")
    sys.exit(0)
b = weights(sys.argv[2])
revived = sum(int(((a[n] == 0) & (b[n] != 0)).sum()) for n in a)
print(f"{revived} pruned weights of {sys.argv[1]} are not zero in {sys.argv[2]}")
sys.exit(1 if revived else 0)
