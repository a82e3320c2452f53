# Title: Backward through a graph that an earlier backward already freed raises
# z = y**2 builds on y = 2*x + 1, whose saved values the first backward released.
import torch

x = torch.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
y = 2 * x + 1
y.sum().backward()
print(x.grad)  # tensor([2., 2., 2., 2.])

z = y ** 2
z.sum().backward()  # RuntimeError: Trying to backward through the graph a second time
print(x.grad)
