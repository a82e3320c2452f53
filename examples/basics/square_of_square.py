# Title: Chain rule through two squares: z = (x**2)**2 = x**4, dz/dx = 4x**3 = 32 at x = 2
import torch

x = torch.tensor([2.0], requires_grad=True)
y = x ** 2
z = y ** 2
z.backward()
print(x.grad)  # tensor([32.])
