# Title: detach().requires_grad_() turns an intermediate into a new leaf, cut off from x
import torch

x = torch.tensor([1.0], requires_grad=True)
y = x * 2
y = y.detach().requires_grad_()  # a fresh leaf: the link back to x is gone
z = y * 2
z.backward()
print(y.grad)  # tensor([2.])
print(x.grad)  # None: no gradient reaches x
