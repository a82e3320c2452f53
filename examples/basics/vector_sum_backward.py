# Title: Backward from a vector: sum it to a scalar first, y = 2x + 1 gives grad 2
import torch

x = torch.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
y = 2 * x + 1
y.sum().backward()
print(x.grad)  # tensor([2., 2., 2., 2.])
