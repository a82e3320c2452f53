# Title: backward(create_graph=True) makes the gradient itself part of a graph
# x.grad = 3x**2 = 12 now has a grad_fn, so it can be differentiated again: 6x = 12.
import torch

x = torch.tensor(2.0, requires_grad=True)
loss = x ** 3
loss.backward(create_graph=True)
print(x.grad)  # tensor(12., grad_fn=<CopyBackwards>): a graph of its own

second, = torch.autograd.grad(x.grad, x)
print(second)  # tensor(12.): d2(x**3)/dx2 = 6x
