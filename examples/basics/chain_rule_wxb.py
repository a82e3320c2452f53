# Title: Forward builds the graph, backward fills .grad: z = (w*x + b)**2 with w=3, x=2, b=1
# y = 7, so dz/dx = 2*y*w = 42, dz/dw = 2*y*x = 28, dz/db = 2*y = 14.
import torch

x = torch.tensor(2.0, requires_grad=True)
w = torch.tensor(3.0, requires_grad=True)
b = torch.tensor(1.0, requires_grad=True)

y = w * x + b  # linear step
z = y ** 2     # non-linear step
z.backward()

print(f"dz/dx = {x.grad}")  # 42
print(f"dz/dw = {w.grad}")  # 28
print(f"dz/db = {b.grad}")  # 14
