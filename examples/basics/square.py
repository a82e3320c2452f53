# Title: The simplest gradient: y = x**2 at x = 2 gives dy/dx = 2x = 4
import torch

x = torch.tensor(2.0, requires_grad=True)
y = x ** 2
y.backward()
print(x.grad)  # tensor(4.)
