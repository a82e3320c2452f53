# Title: Walking the graph by hand: grad_fn and next_functions
# z.grad_fn is PowBackward0, which points to AddBackward0, which points to MulBackward0.
import torch

x = torch.tensor(2.0, requires_grad=True)
w = torch.tensor(3.0, requires_grad=True)
b = torch.tensor(1.0, requires_grad=True)
y = w * x + b
z = y ** 2

print(z.grad_fn)                    # <PowBackward0 ...>
print(z.grad_fn.next_functions)     # ((<AddBackward0 ...>, 0),)
print(y.grad_fn)                    # <AddBackward0 ...>
print(y.grad_fn.next_functions)     # ((<MulBackward0 ...>, 0), (<AccumulateGrad ...>, 0))
