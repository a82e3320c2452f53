# Title: Two inputs, one output: y = x1**2 + x2**3 gives 2*x1 = 2 and 3*x2**2 = 12
import torch

x1 = torch.tensor(1.0, requires_grad=True)
x2 = torch.tensor(2.0, requires_grad=True)
y = x1 ** 2 + x2 ** 3
y.backward()
print(x1.grad, x2.grad)  # tensor(2.) tensor(12.)
