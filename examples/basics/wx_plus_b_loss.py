# Title: Chain rule through a linear unit: loss = (w*x + b)**2
# y = 2.5, so dloss/dx = 2y*w = 5, dloss/dw = 2y*x = 10, dloss/db = 2y = 5.
import torch

x = torch.tensor(2.0, requires_grad=True)
w = torch.tensor(1.0, requires_grad=True)
b = torch.tensor(0.5, requires_grad=True)

y = w * x + b
loss = y ** 2
loss.backward()

print(x.grad, w.grad, b.grad)  # tensor(5.) tensor(10.) tensor(5.)
