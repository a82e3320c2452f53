# Title: .grad of a non-leaf tensor is None: backward only fills leaves
# Reading y.grad also triggers a UserWarning that points to retain_grad().
import torch

x = torch.tensor([1.0], requires_grad=True)
y = x * 2
z = y * 2
z.backward()
print(x.grad)  # tensor([4.])
print(y.grad)  # None: y is not a leaf
