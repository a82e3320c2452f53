# Title: Avoiding in-place trouble: x = x + 1 makes a new tensor; updates of leaves go under no_grad
import torch

x = torch.tensor([1.0], requires_grad=True)
x2 = x + 1  # out of place: x is untouched, x2 is a new node in the graph
x2.backward()
print(x.grad)  # tensor([1.])

with torch.no_grad():
    x += 1  # in-place on a leaf is fine when autograd is not recording
print(x)  # tensor([2.], requires_grad=True)
