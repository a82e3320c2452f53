# Title: detach() cuts the graph, so backward() on a detached result raises
# z = y.detach() * 2 has no grad_fn: it is not connected to x at all.
import torch

x = torch.tensor(3.0, requires_grad=True)
y = x ** 2
z = y.detach() * 2
z.backward()  # RuntimeError: element 0 of tensors does not require grad
print(x.grad)
