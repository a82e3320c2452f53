# Title: Gradients accumulate across backward calls until you zero them
# x.grad goes [1, 1] -> [2, 2] -> (zero_) -> [1, 1].
import torch

x = torch.tensor([1.0, 2.0], requires_grad=True)

y = x.sum()
y.backward()
print(x.grad)  # tensor([1., 1.])

y = x.sum()
y.backward()
print(x.grad)  # tensor([2., 2.]): doubled, not overwritten

x.grad.zero_()
y = x.sum()
y.backward()
print(x.grad)  # tensor([1., 1.])
