# Title: z = x*y + x**2 at x=1, y=2: dz/dx = y + 2x = 4, dz/dy = x = 1
import torch

x = torch.tensor([1.0], requires_grad=True)
y = torch.tensor([2.0], requires_grad=True)
z = x * y + x ** 2
z.backward()
print(x.grad, y.grad)  # tensor([4.]) tensor([1.])
