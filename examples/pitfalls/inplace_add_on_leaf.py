# Title: An in-place op on a leaf that requires grad raises immediately
import torch

x = torch.tensor([1.0, 2.0], requires_grad=True)
y = x ** 2
x.add_(1)  # RuntimeError: a leaf Variable that requires grad is being used in an in-place operation
y.backward(torch.ones_like(y))
