# Title: retain_grad() asks autograd to keep the gradient of a non-leaf tensor
import torch

x = torch.tensor([1.0], requires_grad=True)
y = x * 2
z = y * 2
y.retain_grad()  # must be called before backward
z.backward()
print(y.grad)  # tensor([2.]): dz/dy
print(x.grad)  # tensor([4.])
