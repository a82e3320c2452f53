# Title: Vector-Jacobian product: backward(gradient=v) on a vector output
# x.grad = [2*x0*v0, 3*x1**2*v1] = [2*1*1, 3*4*0.5] = [2, 6].
import torch

x = torch.tensor([1.0, 2.0], requires_grad=True)
y = torch.stack([x[0] ** 2, x[1] ** 3])  # [1, 8]

v = torch.tensor([1.0, 0.5])  # weight of each output
y.backward(gradient=v)
print(x.grad)  # tensor([2., 6.])
