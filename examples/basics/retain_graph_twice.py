# Title: retain_graph=True keeps the graph so backward can run twice (and grads add up)
# z = (x**2)**2, dz/dx = 4x**3 = 4 at x = 1; after the second backward x.grad = 8.
import torch

x = torch.tensor([1.0], requires_grad=True)
y = x ** 2
z = y ** 2

z.backward(retain_graph=True)
print(x.grad)  # tensor([4.])
z.backward()
print(x.grad)  # tensor([8.])
