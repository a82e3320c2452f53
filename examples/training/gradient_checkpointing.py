# Title: Gradient checkpointing: segments drop their activations and recompute them in backward
import torch
from torch.utils.checkpoint import checkpoint

torch.manual_seed(0)
layer1 = torch.nn.Linear(10, 10)
layer2 = torch.nn.Linear(10, 10)


def segment1(x):
    return layer1(x)


def segment2(x):
    return layer2(x)


x = torch.rand(10, requires_grad=True)
y = checkpoint(segment1, x, use_reentrant=False)
z = checkpoint(segment2, y, use_reentrant=False)
z.sum().backward()  # segment1 and segment2 run again here to rebuild what backward needs
