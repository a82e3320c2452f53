# Title: Autograd on the GPU: tensors, graph and gradients all live on cuda
# Needs a CUDA GPU; on a machine without one the first line that asks for cuda raises.
import torch

x = torch.randn(1000, 1000, device="cuda", requires_grad=True)
y = x @ x.T
loss = y.sum()
loss.backward()
print(x.grad.device)  # cuda:0
