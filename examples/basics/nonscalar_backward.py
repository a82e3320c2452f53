# Title: Backward on a non-scalar output needs an explicit gradient of the same shape
import torch

x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
y = x * 2
y.backward(torch.ones_like(y))
print(x.grad)  # tensor([2., 2., 2.])
