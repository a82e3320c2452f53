# Title: Control flow on a tensor's value: a.item() > 1 picks a**2, so the grad is 2a = 4
import torch


def my_func(a):
    if a.item() > 1:
        return a ** 2
    else:
        return a * 3


x = torch.tensor(2.0, requires_grad=True)
y = my_func(x)
y.backward()
print(x.grad)  # tensor(4.)
